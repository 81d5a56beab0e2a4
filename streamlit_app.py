"""Entry point: page config and navigation, nothing else (docs/ARCHITECTURE.md).

The shared sidebar (provider, key, store) is drawn by each page through `ui.session.page_setup()`:
Streamlit's AppTest drops what the entry script draws from its second run on, so page tests could not
reach sidebar widgets drawn here. Only Streamlit and ui.navigation are imported here, so a fresh server draws
its navigation and the chat page its input before the pages' own imports (docs/ARCHITECTURE.md, "Cold start")."""

import streamlit as st

from ui import navigation

st.set_page_config(page_title="Agent chats, traced", page_icon=":material/forum:", layout="wide")

# at the top: Streamlit's sidebar navigation is off (.streamlit/config.toml, client.showSidebarNavigation), so a
# cold server's first direct link, run in its old folder mode, never lists the pages/ folder (ui.navigation)
page = st.navigation(list(navigation.pages().values()), position="top")
st.session_state[navigation.NAVIGATED] = True  # (ui.navigation.leave_folder_mode: a cold server's direct link)
page.run()
