"""Chat page: pick a scenario, talk to the team, watch each step arrive, stop, retry, reopen by URL."""


import streamlit as st

from core.agents import DEFAULT_CRITIC_INSTRUCTION, DEFAULT_ITERATIONS, MAX_ITERATIONS, SCENARIOS
from core.conversations import Conversation, ConversationError
from core.runner import TurnHandle, validate_message
from core.config import ConfigError
from ui import session
from ui.transcript import render_entry

settings, store, store_problem = session.page_setup()


def fresh_conversation(scenario: str) -> Conversation:
    return Conversation(scenario=scenario, session_id=session.session_id(), provider=settings.provider)


def open_from_url() -> None:
    """?conversation=<id> reopens a saved conversation; a bad id says so and starts afresh."""
    wanted = st.query_params.get("conversation")
    current = st.session_state.get("conversation")
    if not wanted or (current is not None and current.id == wanted):
        return
    if store is None:
        st.warning("Cannot reopen that conversation: the MLflow store is unreachable. Starting a new one.")
        return
    try:
        st.session_state.conversation = store.load(wanted)
        st.session_state.pop("failed", None)
    except ConversationError as exc:
        st.warning(f"{exc} Starting a new conversation.")
        del st.query_params["conversation"]


def image_bytes(conversation: Conversation):
    def get(image_id: str) -> bytes | None:
        if image_id not in conversation.images and conversation.id and store is not None:
            png = store.load_image(conversation.id, image_id)
            if png:
                conversation.images[image_id] = png
        return conversation.images.get(image_id)
    return get


def start_turn(conversation: Conversation, message: str, attempt: int = 1) -> None:
    # the answer shows as soon as the agents finish; the trace lands a moment later, off the user's wait
    st.session_state.turn = TurnHandle(conversation, message, settings, store, attempt=attempt,
                                       wait_for_trace=False).start()
    st.session_state.pop("failed", None)


def follow_turn(handle: TurnHandle, conversation: Conversation) -> None:
    """Render the running turn's events as they arrive, then keep its outcome (the script goes on; no rerun)."""
    render_entry({"role": "user", "name": "user", "text": handle.message}, lambda image_id: None)
    pngs: dict[str, bytes] = {}
    status = st.status("The agents are working…", expanded=False)
    progress = st.progress(0.0)
    stop_slot = st.empty()
    if stop_slot.button("⏹ Stop", key="stop", help="Stop after the agent that is working now"):
        handle.stop()
    if handle.stop_switch.is_set():
        status.update(label="Stopping after the current step…")
    seen = 0
    while True:
        events = handle.events_since(seen, timeout=0.25)
        for event in events:
            seen += 1
            if event.kind == "message" and event.entry:
                if event.png and event.entry.get("image_id"):
                    pngs[event.entry["image_id"]] = event.png
                render_entry(event.entry, lambda image_id: pngs.get(image_id))
            elif event.kind == "progress" and event.total_steps:
                status.update(label=f"Step {max(event.step, 1)} of {event.total_steps}: {event.text}…")
                progress.progress(min(1.0, (event.step - 1) / event.total_steps) if event.step else 0.0)
            elif event.kind == "warning":
                st.warning(event.text)
        if handle.done and seen >= len(handle.events):
            break
    outcome = handle.outcome
    del st.session_state["turn"]
    stop_slot.empty()
    progress.empty()
    st.session_state.conversation = outcome.conversation
    if outcome.status in ("ok", "stopped"):
        status.update(label=f"Done in {outcome.seconds:.1f} s" if outcome.status == "ok" else "Stopped",
                      state="complete")
        if outcome.entries[-1].get("role") == "notice":  # "Stopped by you after step k of n"
            render_entry(outcome.entries[-1], lambda image_id: None)
        if outcome.conversation.id:
            st.query_params["conversation"] = outcome.conversation.id
    else:
        status.update(label="Failed", state="error")
        st.session_state.failed = {"message": handle.message, "error": outcome.error, "entries": outcome.entries,
                                   "attempt": handle.attempt, "pngs": pngs}
        show_failure(st.session_state.failed, rendered=True)


def show_failure(failed: dict, rendered: bool = False) -> None:
    """The failed turn stays on screen with its message and what it got done, plus Retry."""
    if not rendered:
        render_entry({"role": "user", "name": "user", "text": failed["message"]}, lambda image_id: None)
        for entry in failed["entries"][1:]:
            render_entry(entry, lambda image_id: failed["pngs"].get(image_id))
    st.error(failed["error"])
    st.button("↻ Retry", key="retry", help="Run the failed turn again from the last good state")


# ---- page -------------------------------------------------------------------------------------------
st.title("Chat with an agent team")
open_from_url()
conversation: Conversation | None = st.session_state.get("conversation")
busy = "turn" in st.session_state

top = st.columns([3, 1])
scenario_keys = list(SCENARIOS)
locked = conversation is not None and conversation.turns > 0
scenario = top[0].selectbox("Scenario", scenario_keys, format_func=SCENARIOS.get, disabled=locked,
                            index=scenario_keys.index(conversation.scenario) if conversation else 0,
                            help="A conversation keeps its scenario; start a new conversation to switch.")
if top[1].button("➕ New conversation", use_container_width=True, disabled=busy):
    conversation = None
    st.session_state.pop("failed", None)
    st.query_params.clear()
if conversation is None or (conversation.turns == 0 and conversation.scenario != scenario):
    conversation = fresh_conversation(scenario)
st.session_state.conversation = conversation

with st.sidebar:
    st.subheader("Catify")
    options = dict(conversation.options)
    options["iterations"] = st.slider("Critique iterations", 1, MAX_ITERATIONS,
                                      int(options.get("iterations", DEFAULT_ITERATIONS)), key="iterations")
    options["instruction"] = st.text_area("Critic instruction", options.get("instruction", DEFAULT_CRITIC_INSTRUCTION),
                                          key="instruction", height=110)
    conversation.options = options

if store_problem:
    st.warning("Chatting works, but traces and conversations are not being saved: " + store_problem)
for text in st.session_state.pop("last_warnings", []):
    st.warning(text)
caption_slot = st.empty()

for entry in conversation.transcript:
    render_entry(entry, image_bytes(conversation))

failed = st.session_state.get("failed")
if failed and not busy and st.session_state.get("retry"):
    start_turn(conversation, failed["message"], attempt=failed["attempt"] + 1)
    failed, busy = None, True
if failed and not busy:
    show_failure(failed)

prompt = st.chat_input("Describe a picture, e.g. “The matrix with a cat”", disabled=busy)
if prompt is not None and not busy:
    try:
        start_turn(conversation, validate_message(prompt))
    except ConfigError as exc:
        st.error(str(exc))

if "turn" in st.session_state:
    follow_turn(st.session_state.turn, conversation)
    conversation = st.session_state.conversation

if conversation.id:
    caption_slot.caption(f"Conversation `{conversation.id}` · {conversation.turns} turn(s) · "
                         "reopen it any time with this page's URL.")
