"""Compare page: run a turn again with other settings (one: a fork; up to six at once: a grid, one child run each
under a group run), watch every setting work, and compare two or more turns side by side, step by step: the
answers and what changed, the pictures, tokens, cost, time and status per agent step, winner marks; mark the
preferred side (feedback on its trace), carry its settings on in the chat, export the comparison."""

import re
from dataclasses import dataclass

import streamlit as st

from ui import navigation

navigation.page_start("compare")  # first: a cold server's direct link reruns through the app's navigation at once


from core import compare, feedback, hosted, scenarios, traces, variants
from core.config import Settings
from core.conversations import ConversationError, ConversationStore, StoreUnavailable
from core.documents import MAX_REPORT_CHARS, validate_report
from core.errors import UserError
from ui import compare as view
from ui import feedback as turn_feedback
from ui import startup, stores, trace_data, visitor
from ui.text import plain

settings, maybe_store, store_problem = startup.page()
st.title("Compare turns")
st.caption(
    "Run a turn again with other settings, or one prompt on up to six settings at once, and see the turns "
    "side by side, step by step: what changed and what it cost."
)
if maybe_store is None:
    st.error(plain(store_problem or "The MLflow store is unreachable."))
    st.stop()


@dataclass(frozen=True)
class ComparePage:
    """What the page is of, built once at its top and passed to every part: the app's settings and store, and the
    viewer (a hosted visitor's owner key: their own turns only; None: everyone's)."""

    settings: Settings
    store: ConversationStore
    viewer: str | None

    @property
    def uri(self) -> str:
        return self.settings.tracking_uri


page = ComparePage(settings, maybe_store, visitor.visible_session())
if target := st.session_state.pop("cmp_go", None):  # "Use these settings": carry on in the chat
    st.switch_page("pages/chat.py", query_params={"conversation": target})


def origin_from_url(page: ComparePage) -> variants.Origin | None:
    """`?conversation=<id>&turn=<n>` (the chat's "run again with…" under a turn): that turn as the origin."""
    wanted, turn = st.query_params.get("conversation", ""), st.query_params.get("turn", "")
    if not wanted or not re.fullmatch(r"[0-9]{1,6}", turn):
        return None
    if st.session_state.get("cmp_origin_of") == (wanted, turn):
        return st.session_state.cmp_origin
    try:
        conversation = traces.open_conversation(
            page.store, wanted, page.viewer, "That conversation belongs to another visitor of this demo."
        )
        origin = variants.origin_of(conversation, int(turn), page.settings)
    except (ConversationError, StoreUnavailable, UserError) as exc:
        st.warning(plain(exc))
        return None
    st.session_state.cmp_origin_of, st.session_state.cmp_origin = (wanted, turn), origin
    return origin


def fresh_origin(settings: Settings) -> variants.Origin | None:
    """No turn to start from: a scenario, a message (and its document) to run on several settings."""
    offered = {s.key: s for s in hosted.offered_scenarios(settings.hosted)}
    key = st.selectbox("Scenario", list(offered), format_func=lambda k: offered[k].label, key="cmp_scenario")
    chosen = offered[key]
    message = st.text_area("Message", placeholder=chosen.placeholder, key="cmp_message", height=80)
    options = chosen.option_defaults(settings)
    if (document := chosen.document()) is not None:
        options[document.key] = st.text_area(
            document.label, placeholder=document.placeholder, key="cmp_document", max_chars=MAX_REPORT_CHARS
        )
    if not message.strip():
        return None
    if document is not None:
        try:
            options[document.key] = validate_report(options[document.key])
        except UserError as exc:
            st.warning(plain(exc))
            return None
    return variants.Origin(scenario=key, message=message, setting=variants.Setting.of(settings, options))


def start(page: ComparePage, origin: variants.Origin, chosen: list[variants.Setting]) -> None:
    """Plan the cells, admit them as one (a hosted demo's caps: the sum of their bounds, before any call), open
    the group run and start them all."""
    settings, store = page.settings, page.store
    try:
        cells = variants.plan(origin, chosen, store, visitor.session_id(), settings)
        reservation = hosted.admit_variants(
            stores.spend_ledger(settings.tracking_uri, settings.experiment_name),
            settings,
            origin.scenario,
            [c.conversation for c in cells],
            [c.setting.applied(settings) for c in cells],
            origin.message,
            visitor.session_id(),
            uses_owner_key=visitor.uses_owner_key(),
            rates=hosted.rates(settings.hosted, visitor.visitor()),
        )
    except UserError as exc:
        st.session_state.cmp_error = str(exc)
        return
    try:
        group = variants.open_group(store, origin, visitor.session_id(), len(cells))
        variants.open_runs(store, cells, origin, group)
    except Exception as exc:  # noqa: BLE001 - the store refused a run: said, nothing runs, nothing stays reserved
        if reservation is not None:
            reservation.settle(0.0)
        st.session_state.cmp_error = f"The MLflow store could not record the run ({type(exc).__name__}); nothing ran."
        return
    st.session_state.cmp_grid = variants.GridHandle(origin, cells, settings, store, group=group, reservation=reservation).start()
    st.session_state.pop("cmp_shown", None)


def side_headers(page: ComparePage, comparison: compare.Comparison) -> None:
    """Each side's header in its column, with Preferred (feedback on its trace) and Use these settings."""
    columns = st.columns(len(comparison.sides))
    for index, (column, side) in enumerate(zip(columns, comparison.sides)):
        with column:
            view.side_header(index, side, comparison)
            others = [s.trace_id for s in comparison.sides if s is not side]
            if st.button(
                "Preferred",
                key=f"cmp_prefer_{index}_{side.trace_id}",
                icon=":material/thumb_up:",
                help="Written as feedback on this turn's trace (MLflow's UI shows it).",
            ):
                try:
                    feedback.prefer(page.uri, side.trace_id, others, turn_feedback.who(), owner=page.viewer)
                    st.toast(f"Marked “{plain(side.label)}” as preferred.", icon=":material/thumb_up:")
                except UserError as exc:
                    st.error(plain(exc))
            if side.conversation_id:
                st.button(
                    "Use these settings",
                    key=f"cmp_use_{index}_{side.trace_id}",
                    icon=":material/tune:",
                    on_click=trace_data.use_settings,
                    args=(page.store, side, page.settings),
                    help="Carry on in the chat with this side's settings: its models and options.",
                )


# --- run again ------------------------------------------------------------------------------------------------------
handle: variants.GridHandle | None = st.session_state.get("cmp_grid")
running = handle is not None and not handle.done
with st.expander("Run again with other settings", expanded=handle is None or running, icon=":material/call_split:"):
    origin = origin_from_url(page)
    if origin is not None:
        known = scenarios.find(origin.scenario)
        st.markdown(
            f"**Turn {origin.turn}** of “{plain(origin.conversation.title if origin.conversation else '')}” "
            f"· {plain(known.label if known else origin.scenario)}"
        )
        st.text(origin.message)
    else:
        st.caption("Open this from a turn (“run again with…” under it in the chat), or run a new prompt here.")
        origin = fresh_origin(settings)
    scenario = scenarios.find(origin.scenario) if origin is not None else None
    if origin is not None and scenario is None:
        st.warning(
            f"The “{plain(origin.scenario)}” team is no longer offered (its file was removed), so its turns "
            "cannot run again; they can still be compared below."
        )
    elif origin is not None and scenario is not None:
        count = int(
            st.number_input(
                "Settings to run",
                1,
                variants.MAX_SETTINGS,
                value=1 if origin.turn else 2,
                key="cmp_count",
                help="One runs the turn again (a fork); more run them all at once, within the provider's limits (a grid).",
            )
        )
        # the origin's own widgets: a turn's by its conversation and number, a new prompt's by its scenario
        prefix = (
            f"cmp_{origin.conversation.id[-8:]}_{origin.turn}"
            if origin.conversation and origin.conversation.id
            else f"cmp_new_{re.sub(r'[^a-z0-9]', '_', origin.scenario.lower())[:40]}"
        )
        chosen = []
        for number, tab in enumerate(st.tabs([f"Setting {n}" for n in range(1, count + 1)]), 1):
            with tab:
                chosen.append(view.setting_editor(prefix, number, origin.setting, scenario, settings))
        # not a callback: its arguments would be the widgets' values of the run before (an edit and the click
        # arrive together)
        if st.button(
            f"Run {count} setting{'s' * (count != 1)}", type="primary", icon=":material/play_arrow:", disabled=running, key="cmp_run"
        ):
            start(page, origin, chosen)
            st.rerun()
    if problem := st.session_state.pop("cmp_error", None):
        st.error(plain(problem))

if handle is not None:
    if running:
        st.button(
            "Stop all",
            icon=":material/stop_circle:",
            on_click=handle.stop,
            key="cmp_stop",
            help="Each setting stops after the agent speaking now; one not started does not start.",
        )
        box = st.empty()
        while not handle.done:
            with box.container():
                view.progress(handle.cells)
            handle.wait_a_moment(0.3)
        st.rerun()  # drawn again with the results
    with st.expander(
        f"Last run: {len(handle.cells)} setting{'s' * (len(handle.cells) != 1)} in {handle.seconds:.1f} s",
        expanded=False,
        icon=":material/grid_view:",
    ):
        view.progress(handle.cells)
        for cell in handle.cells:
            if cell.outcome is not None and cell.outcome.conversation.id:
                st.page_link(
                    "pages/chat.py",
                    label=f"Open “{plain(cell.label)}” in the chat",
                    icon=":material/chat:",
                    query_params={"conversation": cell.outcome.conversation.id},
                )
    if st.session_state.get("cmp_shown") != id(handle):  # its turns become the comparison, once
        st.session_state.cmp_shown = id(handle)
        trace_data.recent_turns.clear()  # listed with their labels
        st.session_state.cmp_pick = handle.trace_ids()

# --- compare -----------------------------------------------------------------------------------------------------------
st.header("Side by side")
try:
    choices = {c.trace_id: c.label for c in trace_data.recent_turns(page.uri, page.store.experiment_id, page.viewer)}
except Exception as exc:  # noqa: BLE001 - the store does not answer: said, the page stays
    st.error(f"The turns could not be listed ({type(exc).__name__}).")
    st.stop()
if "cmp_pick" not in st.session_state:
    asked = list(dict.fromkeys(t.strip() for t in (st.query_params.get("traces") or "").split(",") if t.strip()))
    st.session_state.cmp_pick = asked[: variants.MAX_SETTINGS + 1]
for trace_id in st.session_state.cmp_pick:  # asked for by a link or a run, and not among the newest
    choices.setdefault(trace_id, trace_id)
picked = st.multiselect(
    "Turns to compare",
    list(choices),
    format_func=lambda t: choices.get(t, t),
    key="cmp_pick",
    max_selections=variants.MAX_SETTINGS + 1,
    help="Two or more turns: variants of one turn, or any turns of the same team.",
)
if len(picked) < 2:
    st.info("Pick two or more turns to compare, or run a turn again with other settings above.")
    st.stop()
try:
    comparison = trace_data.comparison(page.store, page.uri, tuple(picked), page.viewer)
except (traces.TraceReadError, UserError) as exc:
    st.error(plain(exc))
    st.stop()
if len({s.scenario for s in comparison.sides}) > 1:
    st.warning("These turns are of different teams: their steps are matched by name and order only.")

side_headers(page, comparison)
view.answers(comparison, compare.answer_diff)
view.pictures(comparison, lambda run_id, image_id: trace_data.picture(page.store, page.uri, run_id, image_id))
st.subheader("Step by step")
st.caption(
    "The same agent step on each side is one row, matched by agent and order; “not run” marks a step "
    "a side did not take. Totals are MLflow's own for each trace."
)
st.dataframe(view.steps_table(comparison), hide_index=True)
left, right = st.columns(2)
left.download_button("Export CSV", compare.to_csv(comparison), "comparison.csv", "text/csv", icon=":material/download:")
right.download_button("Export JSON", compare.to_json(comparison), "comparison.json", "application/json", icon=":material/download:")
