"""Entry point: page config and navigation. `streamlit run streamlit_app.py`.

The shared sidebar (provider, key, store) is drawn by each page through `ui.session.page_setup()`:
Streamlit's AppTest drops what the entry script draws from its second run on, so page tests could not
reach sidebar widgets drawn here."""

import streamlit as st

from ui import session

st.set_page_config(page_title="Agent chats, traced", page_icon="🐈", layout="wide")

page = st.navigation(
    [
        st.Page("pages/chat.py", title="Chat", icon=":material/chat:", default=True),
        st.Page("pages/traces.py", title="Traces", icon=":material/monitoring:"),
        st.Page("pages/compare.py", title="Compare", icon=":material/compare:"),
        st.Page("pages/models.py", title="Models", icon=":material/model_training:"),
        # a read-only shared conversation (ui/sharing.py): opened by its link only
        st.Page("pages/shared.py", title="Shared conversation", icon=":material/share:", url_path="shared", visibility="hidden"),
    ]
)
st.session_state[session.NAVIGATED] = True  # (ui.session: a cold server's direct link to a page)
page.run()
