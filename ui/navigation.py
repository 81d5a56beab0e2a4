"""The app's pages, and leaving Streamlit's folder mode. Imports Streamlit and nothing of the app's own: the entry
script and the first lines of each page import it before MLflow, AutoGen and pandas are loaded, so a fresh server
draws its navigation, and the chat page its input, at once (docs/ARCHITECTURE.md, "Cold start")."""

from __future__ import annotations

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

NAVIGATED = "_navigated"  # set by streamlit_app.py: this session has run the app's own navigation
_LAST_PAGE, _ARRIVED = "_last_page", "_arrived"  # `page_start`
_loaded: set[str] = set()  # pages whose module-level imports this process has run (`loaded`)


def pages() -> dict[str, st.Page]:
    """The app's pages by name, for st.navigation; the shared page is hidden (opened by its link only)."""
    return {
        "chat": st.Page("pages/chat.py", title="Chat", icon=":material/chat:", default=True),
        "traces": st.Page("pages/traces.py", title="Traces", icon=":material/monitoring:"),
        "compare": st.Page("pages/compare.py", title="Compare", icon=":material/compare:"),
        "models": st.Page("pages/models.py", title="Models", icon=":material/model_training:"),
        # a read-only shared conversation (ui/sharing.py): opened by its link only
        "shared": st.Page("pages/shared.py", title="Shared conversation", icon=":material/share:", url_path="shared", visibility="hidden"),
    }


def leave_folder_mode() -> None:
    """A cold server's first request straight to a page (a bookmark to /traces) runs that page in Streamlit's
    old folder mode, because a `pages/` folder sits next to the entry script and nobody has run the entry
    script's `st.navigation` yet; it stays so for every visitor until someone opens `/`. Streamlit has no
    public switch for this (its PagesManager decides once per process from the folder), so the page turns
    folder mode off and reruns, first thing, before its own imports: the rerun goes through streamlit_app.py,
    its navigation and page config. Folder mode's own sidebar list of the folder ("streamlit app / chat / … /
    shared / traces") is never drawn: `client.showSidebarNavigation` is off (.streamlit/config.toml) and the
    app's navigation is at the top. A session that already came through the entry script is not rerun (that
    would drop the widget value that started this run; Streamlit's AppTest runs every script this way)."""
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        if not st.session_state.get(NAVIGATED):
            st.rerun()


def page_start(name: str) -> None:
    """First thing on every page (`name`: its url path, "chat" for the chat): leave folder mode, and note whether
    this run is the first on this page since the session was on another (`arrived`). Kept by the pages and not by
    the entry script, which Streamlit's AppTest runs only once."""
    leave_folder_mode()
    st.session_state[_ARRIVED] = st.session_state.get(_LAST_PAGE) != name
    st.session_state[_LAST_PAGE] = name


def arrived() -> bool:
    """This run is the first on its page since the session was on another (a link under a turn switches page in
    the same session: what the page keeps for a visit starts afresh from the link's query parameters)."""
    return bool(st.session_state.get(_ARRIVED, True))


def loaded(page: str) -> bool:
    """This process has run `page`'s imports (`mark_loaded`): importing them again costs nothing."""
    return page in _loaded


def mark_loaded(page: str) -> None:
    _loaded.add(page)
