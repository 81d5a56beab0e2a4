"""Entry point: page config and navigation, nothing else (docs/ARCHITECTURE.md).

The shared sidebar (provider, key, store) is drawn by each page through `ui.startup.page()`:
Streamlit's AppTest drops what the entry script draws from its second run on, so page tests could not
reach sidebar widgets drawn here. Only Streamlit and ui.navigation are imported here, so a fresh server draws
its navigation and the chat page its input before the pages' own imports (docs/ARCHITECTURE.md, "Cold start")."""

from pathlib import Path

import streamlit as st

from ui import navigation

# a picture of our own, served by this server: an emoji shows as a box without an emoji font, and a Material icon
# as page_icon makes the browser fetch its SVG from fonts.gstatic.com (Streamlit bundles the font, not the SVGs)
st.set_page_config(page_title="Agent chats, traced", page_icon=str(Path(__file__).parent / "ui" / "favicon.png"), layout="wide")

# at the top: Streamlit's sidebar navigation is off (.streamlit/config.toml, client.showSidebarNavigation), so a
# cold server's first direct link, run in its old folder mode, never lists the pages/ folder (ui.navigation)
page = st.navigation(list(navigation.pages().values()), position="top")
st.session_state[navigation.NAVIGATED] = True  # (ui.navigation.leave_folder_mode: a cold server's direct link)
page.run()
