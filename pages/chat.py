"""Chat page: pick a scenario, talk to the team, watch each step arrive, answer when the team asks, stop,
retry, reopen any conversation from the sidebar or by URL."""

import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

import streamlit as st

from ui import navigation

navigation.page_start("chat")  # first: a cold server's direct link reruns through the app's navigation at once
st.title("Chat with an agent team")
# A fresh server: the input now, before this page's imports (MLflow, AutoGen, pandas: seconds), so it is usable
# while the rest of the page loads in this same run. A message sent meanwhile reruns the page, which has its
# imports by then, and is answered. The input's placeholder is the general one for this run only (the scenario's
# own needs the registry); it is the same widget (same key) as the one drawn below on every later run.
input_drawn = not navigation.loaded("chat")
first_prompt = st.chat_input("Your message…", key="chat_input") if input_drawn else None
starting = st.empty()
if input_drawn:
    starting.caption("Starting the agent teams and the MLflow store… you can write your message already.")

from core import agents, contract, hosted, scenarios
from core.conversations import Conversation, ConversationConflict, ConversationError, StoreUnavailable
from core.errors import UserError
from core.records import FailedTurn, TurnRequest
from core.runtimes import team_sources
from core.scenarios import ChoiceOption, DocumentOption, IntOption, TextOption
from core.variants import Setting
from ui import feedback as turn_feedback
from ui import sharing as share_ui
from ui import sidebar, startup, stores, visitor
from ui.context import PageContext
from ui.text import labelled, plain
from ui.transcript import render_entry, render_transcript

if TYPE_CHECKING:
    from core.turn import TurnHandle

navigation.mark_loaded("chat")
starting.empty()
settings, _store, store_problem = startup.page()
page_store = stores.PageStore(_store)  # dropped for the rest of this run when the store stops answering
context = PageContext(settings, page_store, visitor.visitor())  # what the turn's view is given


def fresh_conversation(context: PageContext, scenario: str) -> Conversation:
    return Conversation(scenario=scenario, session_id=visitor.session_id(), provider=context.settings.provider)


def open_from_url(context: PageContext) -> None:
    """?conversation=<id> reopens a saved conversation; a bad id says so and starts afresh."""
    wanted = st.query_params.get("conversation")
    current = st.session_state.get("conversation")
    if not wanted or (current is not None and current.id == wanted):
        return
    from core.turn import TurnHandle  # noqa: PLC0415 - here, not at the top: the chat page draws before AutoGen loads (issue 32)

    running = TurnHandle.running(wanted)
    if (
        running is not None
        and "turn" not in st.session_state
        and hosted.may_open(visitor.visible_session(), running.request.conversation.session_id)
    ):
        # a reload (or another tab) while its turn runs: follow that turn to its end, never start it again
        st.session_state.conversation = replace(running.request.conversation, id=wanted)
        st.session_state.turn = running
        st.session_state.pop("failed", None)
        return
    if context.store.store is None:
        st.warning("Cannot reopen that conversation: the MLflow store is unreachable. Starting a new one.")
        return
    try:
        loaded = context.store.store.load(wanted)
    except StoreUnavailable as exc:  # for a moment, perhaps: keep the address so a reload can try again
        st.warning(f"{plain(exc)} Reload the page to try again.")
        return
    except ConversationError as exc:
        st.warning(f"{plain(exc)} Starting a new conversation.")
        del st.query_params["conversation"]
        return
    if not hosted.may_open(visitor.visible_session(), loaded.session_id):
        st.warning("That conversation belongs to another visitor of this demo. Starting a new conversation.")
        del st.query_params["conversation"]
        return
    known = scenarios.find(loaded.scenario)
    if known is not None and not hosted.offered(context.settings.hosted, known):
        st.warning(
            f"Conversation {plain(wanted)} uses the team file {plain(known.team_file)}, which this demo does "
            "not offer. Starting a new conversation."
        )
        del st.query_params["conversation"]
        return
    if known is None:
        st.warning(
            f"Conversation {plain(wanted)} is a “{plain(loaded.scenario)}” conversation, which this version of "
            "the app cannot continue. Starting a new conversation."
        )
        del st.query_params["conversation"]
        return
    st.session_state.conversation = loaded
    st.session_state.pop("failed", None)


def parked() -> list[Conversation]:
    """Conversations this session left while they had turns the store has not got: kept until it takes them."""
    return st.session_state.setdefault("parked", [])


def park_unsaved() -> None:
    current = st.session_state.get("conversation")
    if current is not None and current.pending_turns and all(c.key != current.key for c in parked()):
        parked().append(current)


def conflicted() -> set[str]:
    """Keys of unsaved conversations that another tab continued meanwhile: not retried on every run."""
    return st.session_state.setdefault("conflicted", set())


def reload_conversation() -> None:
    """After a conflict: drop this tab's copy and read the newest one from the store."""
    st.session_state.pop("failed", None)
    park_unsaved()
    current = st.session_state.pop("conversation", None)
    if current is not None and current.id:
        st.query_params["conversation"] = current.id


def running_turn() -> bool:
    turn = st.session_state.get("turn")
    return turn is not None and not turn.done


def new_conversation() -> None:
    """A callback, so the page is drawn for the new conversation at once (scenario choice unlocked). A click that
    reaches a running turn (the instant before its controls grey out) waits for it: never lost, never overridden."""
    if running_turn():
        st.session_state.after_turn = ("new", "")
        return
    park_unsaved()
    st.session_state.pop("conversation", None)
    st.session_state.pop("failed", None)
    st.query_params.pop("conversation", None)


def open_conversation(conversation_id: str) -> None:
    if running_turn():  # as in new_conversation
        st.session_state.after_turn = ("open", conversation_id)
        return
    current = st.session_state.get("conversation")
    if current is not None and current.id == conversation_id:
        return  # already open (perhaps with turns the store has not got: they stay)
    park_unsaved()
    st.session_state.pop("failed", None)
    st.query_params["conversation"] = conversation_id


def resume_parked(key: str) -> None:
    chosen = next((c for c in parked() if c.key == key), None)
    if chosen is None:  # saved meanwhile: it is in the sidebar's list of conversations now
        return
    parked().remove(chosen)
    park_unsaved()
    st.session_state.conversation = chosen
    st.session_state.pop("failed", None)
    if chosen.id:
        st.query_params["conversation"] = chosen.id
    else:
        st.query_params.pop("conversation", None)


def save_unsaved_turns(context: PageContext, conversation: Conversation, busy: bool) -> None:  # noqa: C901 - over the complexity limit when it came on (issue 28); split it when it next changes
    """Turns finished while the store was away live in this session (this conversation's and any it left);
    write them as soon as the store answers."""
    if busy:
        return
    waiting = [c for c in (conversation, *parked()) if c.pending_turns and c.key not in conflicted()]
    if waiting and context.store.store is not None:
        for unsaved in waiting:
            try:
                written = context.store.store.save_pending(unsaved)
            except ConversationConflict:  # continued elsewhere meanwhile: theirs stay, ours stay here
                conflicted().add(unsaved.key)
                continue
            except Exception:  # noqa: BLE001 - still away: said below, and checked afresh on the next run
                context.store.drop()
                break
            if unsaved is conversation:
                st.query_params["conversation"] = unsaved.id or ""
            st.toast(
                plain(f"Saved {turns(written)} of “{unsaved.title[:40]}” to MLflow: the store answers again."), icon=":material/cloud_done:"
            )
        st.session_state.parked = [c for c in parked() if c.pending_turns]
    if conversation.pending_turns and conversation.key in conflicted():
        st.warning(
            "This conversation was continued in another tab or window while this page could not save. "
            f"Its {turns(conversation.pending_turns, 'unsaved turn')} stay here; keep them as a conversation of "
            "their own, or reload to carry on from the other tab's turns.",
            icon=":material/call_split:",
        )
        if failed := st.session_state.pop("save_as_new_failed", None):
            st.error(failed)
        left, right = st.columns(2)
        left.button(
            "Save mine as a new conversation",
            key="save_as_new",
            icon=":material/content_copy:",
            on_click=save_as_new,
            args=(context, conversation),
            disabled=context.store.store is None,
            width="stretch",
        )
        right.button(
            "Reload the conversation", icon=":material/refresh:", key="reload_after_outage", on_click=reload_conversation, width="stretch"
        )
    elif conversation.pending_turns:
        st.warning(
            f"{turns(conversation.pending_turns)} of this conversation are kept in this browser session only: "
            "the MLflow store is unreachable. They are saved as soon as it answers again; closing this tab "
            "before then loses them.",
            icon=":material/cloud_off:",
        )
        st.button("Try saving now", key="save_pending", icon=":material/cloud_upload:", on_click=stores.store_problem.clear)
    if parked():
        with st.sidebar:
            st.subheader("Not saved yet")
            st.caption("Kept in this browser session until the MLflow store answers again.")
            for unsaved in parked():
                state = "continued in another tab" if unsaved.key in conflicted() else turns(unsaved.pending_turns, "unsaved turn")
                st.button(
                    plain(f"{unsaved.title[:34] or 'untitled'} · {state}"),
                    key=f"parked_{unsaved.key}",
                    icon=":material/cloud_off:",
                    disabled=busy,
                    width="stretch",
                    on_click=resume_parked,
                    args=(unsaved.key,),
                )
            if not conversation.pending_turns:
                st.button("Try saving now", key="save_parked", icon=":material/cloud_upload:", on_click=stores.store_problem.clear)


def save_as_new(context: PageContext, conversation: Conversation) -> None:
    """A callback: the conflicted unsaved version becomes a conversation of its own."""
    if context.store.store is None:
        st.session_state.save_as_new_failed = "The MLflow store is unreachable; it stays here. Try again."
        return
    try:
        written = context.store.store.save_as_new(conversation)
    except Exception as exc:  # noqa: BLE001 - any store failure: said, the conversation stays here
        st.session_state.save_as_new_failed = f"Could not save it ({type(exc).__name__}); it stays here. Try again."
        return
    conflicted().discard(conversation.key)
    st.query_params["conversation"] = conversation.id or ""
    st.toast(plain(f"Saved {turns(written)} as “{conversation.title[:40]}”."), icon=":material/cloud_done:")


def add_team_file(context: PageContext) -> None:
    """A callback: an uploaded team file goes into the uploads folder (core: team_sources.add_upload, read by the
    runtime it is for) and a new conversation with its team starts. Never in a hosted demo (the uploader is not drawn
    there)."""
    upload = st.session_state.get("team_upload")
    if upload is None or context.settings.hosted is not None:
        return
    try:
        keys, unusable = team_sources.add_upload(upload.name, upload.getvalue())
    except UserError as exc:
        st.session_state.team_upload_result = ("error", str(exc))
        return
    scenarios.rescan()
    park_unsaved()
    st.session_state.pop("failed", None)
    st.query_params.pop("conversation", None)
    st.session_state.conversation = fresh_conversation(context, keys[0])
    added = ", ".join(f"“{scenarios.get(key).label}”" for key in keys)
    left_out = f" {len(unusable)} of its teams cannot run here (said above)." if unusable else ""
    st.session_state.team_upload_result = ("ok", f"Added {added} to the Scenario picker (kept in the app's uploads folder)." + left_out)


def remove_team_file(context: PageContext, name: str) -> None:
    """A callback: an uploaded team leaves the picker (core: team_sources.remove_upload); its conversations stay saved."""
    if context.settings.hosted is not None:
        return
    try:
        said = team_sources.remove_upload(name)
    except UserError as exc:
        st.session_state.team_upload_result = ("error", str(exc))
        return
    scenarios.rescan()
    st.session_state.team_upload_result = ("ok", said)


def bring_a_team(context: PageContext, busy: bool) -> None:
    """The sidebar's upload of a team file (local use only: a team file is code that runs on this server)."""
    with st.sidebar:
        with st.expander("Bring your own team", icon=":material/upload_file:"):
            st.caption(
                "An AutoGen Studio team or gallery (.json, what Team.dump_component() writes), or a Python "
                "file with create_team(models) (runs on AutoGen) or create_workflow(models) (runs on Agent "
                "Framework). It is kept in the app's uploads folder and runs on the sidebar's provider. A team "
                "file is code that runs on this server: upload files you trust."
            )
            st.file_uploader(
                "Team file",
                type=["json", "py"],
                key="team_upload",
                on_change=add_team_file,
                args=(context,),
                disabled=busy,
                label_visibility="collapsed",
                max_upload_size=team_sources.MAX_FILE_MB,
            )
            for name in team_sources.uploads():  # uploads can be removed here; the teams folder is the owner's
                left, right = st.columns([4, 1], vertical_alignment="center")
                left.text(name)
                right.button(
                    "",
                    key=f"remove_team_{name}",
                    icon=":material/delete:",
                    help=f"Remove {name} from the Scenario picker (its conversations and traces stay saved)",
                    on_click=remove_team_file,
                    args=(context, name),
                    disabled=busy,
                )


def image_bytes(context: PageContext, conversation: Conversation) -> Callable[[str], bytes | None]:
    def get(image_id: str) -> bytes | None:
        if image_id not in conversation.images and conversation.id and context.store.store is not None:
            png = context.store.store.load_image(conversation.id, image_id)
            if png:
                conversation.images[image_id] = png
        return conversation.images.get(image_id)

    return get


def turns(count: int, what: str = "turn") -> str:
    return f"{count} {what}{'' if count == 1 else 's'}"


def ago(ms: int) -> str:
    """When, as people say it: "just now", "5 min ago", "3 h ago", then the date."""
    seconds = max(0, time.time() - ms / 1000)
    if seconds >= 86400:
        return time.strftime("%b %d, %Y" if seconds > 180 * 86400 else "%b %d", time.localtime(ms / 1000))
    for unit, size in (("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit} ago"
    return "just now"


def rename_conversation(context: PageContext, conversation_id: str) -> None:
    if context.store.store is None:  # MLflow went away since the button was drawn
        st.session_state.manage_error = "MLflow does not answer: it could not be renamed; try again once it does."
        return
    try:
        context.store.store.rename(conversation_id, st.session_state.get(f"rename_{conversation_id}", ""))
        current = st.session_state.get("conversation")
        if current is not None and current.id == conversation_id:
            current.title = st.session_state[f"rename_{conversation_id}"].strip()
    except UserError as exc:
        st.session_state.manage_error = str(exc)
    except Exception as exc:  # noqa: BLE001 - the store: said, nothing else changes
        st.session_state.manage_error = f"It could not be renamed ({type(exc).__name__}); try again."


def delete_conversation(context: PageContext, conversation_id: str) -> None:
    if running_turn():
        st.session_state.manage_error = "A turn is running in this conversation; delete it once the turn ends."
        return
    if context.store.store is None:  # MLflow went away since the button was drawn
        st.session_state.manage_error = "MLflow does not answer: nothing was deleted; try again once it does."
        return
    try:
        removed = context.store.store.delete(conversation_id)
    except Exception as exc:  # noqa: BLE001 - the store: said, nothing else changes
        st.session_state.manage_error = f"It could not be deleted ({type(exc).__name__}); nothing changed."
        return
    new_conversation()
    st.session_state.turn_notes = [
        f"Deleted the conversation and its {turns(removed, 'trace')} (MLflow keeps the run among its deleted runs until `mlflow gc`)."
    ]


def recent_conversations(context: PageContext, current: Conversation, busy: bool) -> None:
    with st.sidebar:
        st.subheader("Conversations")
        if context.store.store is None:
            st.caption("Saved conversations show here when the MLflow store is reachable.")
            return
        search = st.text_input(
            "Search conversations", key="conv_search", placeholder="Search titles and messages…", label_visibility="collapsed"
        )
        try:
            recent = context.store.store.recent(limit=12, session_id=visitor.visible_session(), search=search)
        except Exception as exc:  # noqa: BLE001 - the chat works without the list
            st.caption(f"The list could not be read ({type(exc).__name__}).")
            context.store.drop()  # gone since the last check, perhaps: look again on the next run, not in this one
            return
        if not recent:
            st.caption(
                "No conversation's title or messages hold that."
                if search
                else "Your conversations will show here; each one reopens where it stopped."
            )
        for item in recent:
            label = f"{item.list_title(34) or 'untitled'} · {turns(item.turns)} · {ago(item.updated_ms)}"
            if item.waiting:
                label += " · waiting for you"
            label = plain(label)  # titles are users' words: a link or picture in them stays text
            known = scenarios.find(item.scenario)
            st.button(
                label,
                key=f"open_{item.id}",
                icon=known.icon if known else ":material/chat:",
                type="primary" if item.id == current.id else "secondary",
                disabled=busy,
                width="stretch",
                on_click=open_conversation,
                args=(item.id,),
                help=f"{known.label if known else item.scenario} · conversation {item.id}",
            )
        if current.id and current.turns and not busy:
            manage_conversation(context, current)
            share_ui.share_box(context.store.store, context.settings, current)


def manage_conversation(context: PageContext, current: Conversation) -> None:
    """Rename or delete the open conversation (deleting asks first)."""
    with st.expander("Rename or delete this conversation", icon=":material/edit:"):
        st.text_input("Name", value=current.title, key=f"rename_{current.id}", max_chars=250)
        left, right = st.columns(2)
        left.button(
            "Rename",
            key="rename_conversation",
            on_click=rename_conversation,
            args=(context, current.id),
            width="stretch",
        )
        with right.popover("Delete…", width="stretch"):
            st.caption("The conversation and its turns' traces are deleted; this cannot be undone here.")
            st.button(
                "Delete for good",
                key="delete_conversation",
                type="primary",
                on_click=delete_conversation,
                args=(context, current.id),
            )
        if problem := st.session_state.pop("manage_error", None):
            st.error(plain(problem))


def sync_option_widgets(context: PageContext, conversation: Conversation, scenario: scenarios.Scenario) -> None:
    """When another conversation is shown, its saved options become the widgets' values (widget state is
    per browser session and would otherwise carry the previous conversation's choices over)."""
    shown = (conversation.key if conversation.turns else "new", conversation.scenario)  # a new one keeps the choices
    if st.session_state.get("_options_of") == shown:
        return
    st.session_state._options_of = shown
    defaults, saved = scenario.option_defaults(context.settings), conversation.options
    for option in scenario.options:
        if isinstance(option, ChoiceOption):  # a saved empty choice means "the provider's default"
            st.session_state[option.key] = saved.get(option.key) or defaults[option.key]
        elif not isinstance(option, DocumentOption):
            value = saved[option.key] if option.key in saved else defaults[option.key]
            st.session_state[option.key] = int(value) if isinstance(option, IntOption) else value
    models = saved.get(contract.MODELS_OPTION)
    if isinstance(models, dict) and sidebar.adopt_models(models, context.settings):
        st.rerun()  # the sidebar, drawn before the conversation was known, shows its models from the next run


LIMIT = hosted.MAX_USER_TEXT_CHARS if settings.hosted is not None else None  # text that joins every model call


def adopt_settings(conversation: Conversation) -> None:
    """ "Use these settings" on the Compare page: a side's options and models become this conversation's, from its
    next turn on (the models went to the sidebar's widgets there; the options go to this conversation's widgets)."""
    adopt = st.session_state.get("_adopt")
    if not adopt or adopt.get("conversation") != conversation.id:
        return
    del st.session_state._adopt
    conversation.options = {**conversation.options, **adopt["options"], contract.MODELS_OPTION: adopt["models"]}
    st.session_state.pop("_options_of", None)
    st.success(f"From the next turn on, this conversation runs with the settings of “{plain(adopt['label'])}”.", icon=":material/tune:")


def runtime_choice(conversation: Conversation, scenario: scenarios.Scenario) -> str:
    """The agent runtime this conversation runs on (issue 34): chosen before its first turn, then kept with it (its
    run's tag; a conversation from before the choice runs on AutoGen) and shown, locked, when it is reopened; a team
    only another runtime than the default runs (a create_workflow file: Agent Framework) shows it locked from the start."""
    names = agents.runtimes_for(scenario)
    only = len(names) < 2  # a team file runs on the runtime it is written for, shown locked when that is not the default
    if only and not conversation.runtime and scenario.runtime == next(iter(agents.RUNTIME_LABELS)):
        return conversation.runtime
    label = labelled(agents.RUNTIME_LABELS)
    helped = "The agent framework that runs this conversation's team; a conversation keeps it (start a new one to switch)."
    with st.sidebar:
        st.subheader("Agent runtime")
        if conversation.turns or only:
            kept = agents.runtime_name(scenario, conversation.runtime)
            helped = f"Only {label(kept)} runs this team: its file is written for it." if only else helped
            st.selectbox("Runtime", [kept], format_func=label, disabled=True, help=helped, key=f"agent_runtime_of_{conversation.key}")
            return conversation.runtime or (kept if only else "")
        if st.session_state.get("agent_runtime") not in names:
            st.session_state.agent_runtime = names[0]
        picked = st.selectbox("Runtime", names, format_func=label, key="agent_runtime", help=helped)
    return str(picked)


def scenario_options(context: PageContext, conversation: Conversation, scenario: scenarios.Scenario) -> dict:
    """The scenario's options as sidebar widgets (a document option is asked for in the page itself), and the
    models it runs on (kept with them: contract.MODELS_OPTION, so a variant of its turns starts from them)."""
    adopt_settings(conversation)
    sync_option_widgets(context, conversation, scenario)
    options = dict(conversation.options)
    options[contract.MODELS_OPTION] = Setting.of(context.settings, {}).models()
    if not any(not isinstance(option, DocumentOption) for option in scenario.options):
        return options  # nothing to set in the sidebar (a team file, a document-only scenario)
    with st.sidebar:
        st.subheader(scenario.label)
        for option in scenario.options:
            if isinstance(option, IntOption):
                options[option.key] = st.slider(option.label, option.min, option.max, key=option.key, help=option.help or None)
            elif isinstance(option, TextOption):
                options[option.key] = st.text_area(
                    option.label, key=option.key, height=option.height, max_chars=LIMIT, help=option.help or None
                )
            elif isinstance(option, ChoiceOption):
                options[option.key] = st.selectbox(
                    option.label,
                    list(option.choices),
                    format_func=labelled(option.choices),
                    key=option.key,
                    help=option.help or None,
                )
    return options


def document_input(conversation: Conversation, document: DocumentOption) -> None:
    """Before the first question: the document, pasted or uploaded. Afterwards it is part of the conversation."""
    if conversation.turns:
        with st.expander(f"The {document.label.lower()}", icon=":material/description:"):
            st.text(conversation.options.get(document.key, ""))
        return
    left, right = st.columns([3, 2])
    left.text_area(document.label, key=f"{document.key}_text", height=160, placeholder=document.placeholder)
    right.file_uploader(
        document.upload_label, type=["txt", "md", "markdown"], key=f"{document.key}_file", max_upload_size=document.max_upload_mb
    )


def start_turn(
    context: PageContext, conversation: Conversation, message: str, attempt: int = 1, document: DocumentOption | None = None
) -> None:
    """Through core's front door (ui.turn_view.start: validated, admitted, in a hosted demo reserved); a refusal
    raises UserError with the sentence. On the first turn of a scenario with a document, the document comes along."""
    from ui import turn_view  # noqa: PLC0415 - here, not at the top: the chat page draws before AutoGen loads (issue 32)

    request = TurnRequest(conversation, message, context.settings, context.store.store, attempt=attempt, wait_for_trace=False)
    handle = turn_view.start(context, request, turn_view.given(document) if document is not None else None)
    st.session_state.turn = handle
    st.session_state.conversation = handle.request.conversation  # with the document in its options
    if handle.admission is not None and handle.admission.notes:  # what the app did with the message
        st.session_state.turn_notes = list(handle.admission.notes)
    st.session_state.pop("failed", None)
    # drawn again as busy: this run drew New conversation, the sidebar's list and the scenario choice before the
    # message arrived, still clickable; a click there would be overridden when the turn ends
    st.rerun()


def follow_turn(handle: "TurnHandle", conversation: Conversation) -> None:
    """The running turn's view (ui.turn_view) until its end, then what it means for the page, and once more from the
    top: the transcript, the waiting notice, the input and the sidebar's list all reflect the finished turn."""
    from ui import turn_view  # noqa: PLC0415 - here, not at the top: the chat page draws before AutoGen loads (issue 32)

    outcome, pngs = turn_view.follow(handle, conversation.scenario)
    after = turn_view.keep(handle, outcome, pngs)
    if after:  # New conversation or a sidebar conversation, clicked as the turn began: now
        (new_conversation if after[0] == "new" else lambda: open_conversation(after[1]))()
    st.rerun()


def show_failure(failed: FailedTurn, scenario: str) -> None:
    """The failed turn stays on screen with its message and what it got done, plus Retry (or Reload after a
    conflict with another tab)."""
    render_entry({"role": "user", "name": "user", "text": failed.message}, lambda image_id: None)
    for entry in failed.entries[1:]:
        render_entry(entry, lambda image_id: failed.pngs.get(image_id), scenario)
    st.error(plain(failed.error))
    if failed.conflict:
        st.button("Reload the conversation", icon=":material/refresh:", key="reload_conversation", on_click=reload_conversation)
    else:
        st.button("Retry", icon=":material/replay:", key="retry", help="Run the failed turn again from the last good state")


# ---- page -------------------------------------------------------------------------------------------
open_from_url(context)
conversation: Conversation | None = st.session_state.get("conversation")
busy = "turn" in st.session_state

top = st.columns([3, 1])
labels = {s.key: s.label for s in hosted.offered_scenarios(settings.hosted)}
scenario_keys = list(labels)
if conversation is not None and conversation.scenario not in labels and not busy:  # its team file went away
    st.warning(
        f"The “{plain(conversation.scenario)}” team is no longer offered (its file was removed or changed); "
        "this conversation stays saved. Starting a new conversation."
    )
    park_unsaved()
    conversation = None
locked = conversation is not None and conversation.turns > 0
scenario = top[0].selectbox(
    "Scenario",
    scenario_keys,
    format_func=labelled(labels),
    disabled=locked or busy,
    index=scenario_keys.index(conversation.scenario) if conversation else 0,
    help="A conversation keeps its scenario; start a new conversation to switch.",
)
top[1].button("New conversation", icon=":material/add:", width="stretch", disabled=busy, on_click=new_conversation)
if conversation is None or (conversation.turns == 0 and conversation.scenario != scenario):
    conversation = fresh_conversation(context, scenario)
    if not busy:  # a failed turn of the previous conversation is not this one's to retry
        st.session_state.pop("failed", None)
st.session_state.conversation = conversation
chosen = scenarios.get(conversation.scenario)
document = chosen.document()
if not conversation.turns and not busy:
    st.caption(plain(chosen.description))  # what this team does, before the first message
if chosen.team_file:
    st.caption(plain(team_sources.run_note(chosen, settings)), help=None)
conversation.runtime = runtime_choice(conversation, chosen)
conversation.options = scenario_options(context, conversation, chosen)
if settings.hosted is None:
    bring_a_team(context, busy)
recent_conversations(context, conversation, busy)

if store_problem:
    st.warning(
        "Chatting works, but traces are not being saved, and conversations stay in this browser session "
        "until the store answers again: " + plain(store_problem)
    )
for text in scenarios.load_problems():
    st.warning(text)
if upload_result := st.session_state.pop("team_upload_result", None):  # said in the page, not in the sidebar
    (st.success if upload_result[0] == "ok" else st.error)(plain(upload_result[1]))
# what the app did with the message, said during the turn and once after it
for text in st.session_state.get("turn_notes", []) if busy else st.session_state.pop("turn_notes", []):
    st.info(plain(text), icon=":material/description:")
for text in st.session_state.pop("last_warnings", []):
    st.warning(text)
save_unsaved_turns(context, conversation, busy)
caption_slot = st.empty()
example_slot = st.empty()  # "Try: …" on an empty conversation
if document is not None:
    document_input(conversation, document)

rating = None  # thumbs and a comment under each finished turn, once the conversation is in the store
if page_store.store is not None and conversation.id and conversation.turns:
    rating = turn_feedback.for_conversation(settings.tracking_uri, page_store.store.experiment_id, conversation.id, conversation.turns)
render_transcript(conversation.transcript, image_bytes(context, conversation), conversation.scenario, conversation.id, after_turn=rating)
waiting = bool(conversation.transcript and conversation.transcript[-1].get("asks_user"))

failed: FailedTurn | None = st.session_state.get("failed")
if failed and not busy and st.session_state.get("retry"):
    try:
        start_turn(context, conversation, failed.message, attempt=failed.attempt + 1)
    except UserError as exc:
        failed.error = str(exc)
    else:
        failed, busy = None, True
last_turn = st.session_state.pop("last_turn", None)
if failed and not busy:
    show_failure(failed, conversation.scenario)
elif last_turn and not busy:
    st.caption(last_turn)
if waiting and not failed and not busy:
    st.info("The team is waiting for your answer: the next message you send resumes it.", icon=":material/front_hand:")

placeholder = "Queue a message for when this turn ends…" if busy else "Your answer…" if waiting else chosen.placeholder
# open while a turn runs: a message sent then is queued (and says so), never dropped; a stable id keeps a message
# sent during a rerun
prompt = first_prompt if input_drawn else st.chat_input(placeholder, key="chat_input")
if prompt is not None and busy:
    st.session_state.queued = prompt
    prompt = None
if st.session_state.get("queued") and busy:
    st.info(plain(f"Queued: “{st.session_state.queued[:200]}” is sent when this turn ends."), icon=":material/schedule_send:")
elif st.session_state.get("queued"):
    queued_text = st.session_state.pop("queued")
    if failed is not None:
        st.warning("Your queued message was not sent, because the turn before it failed; here it is to send again:")
        st.code(queued_text[:5000], language=None, wrap_lines=True)
    else:
        prompt = queued_text
if not conversation.turns and not busy and not failed and chosen.example and prompt is None:
    if example_slot.button(
        f"Try: “{chosen.example}”", icon=":material/lightbulb:", key="try_example", help="Sends this message to the team"
    ):
        prompt = chosen.example
if prompt is not None and not busy:
    try:
        start_turn(context, conversation, prompt, document=document if document is not None and not conversation.turns else None)
    except UserError as exc:
        st.error(plain(exc))
        if prompt.strip():
            st.caption("Your message was not sent; here it is to copy:")
            st.code(prompt[:5000], language=None, wrap_lines=True)

if "turn" in st.session_state:
    follow_turn(st.session_state.turn, conversation)
    conversation = st.session_state.conversation

if conversation.id:
    if st.query_params.get("conversation") != conversation.id:  # back from another page of this tab: a reload reopens it
        st.query_params["conversation"] = conversation.id
    caption_slot.caption(
        f"Conversation `{conversation.id}` · {turns(conversation.turns)} · reopen it any time with this page's URL or from the sidebar."
    )
