"""Models page: a team as an MLflow model from code — Catify, a built-in scenario or a team file's team — log the
current settings as a new version, see versions and aliases, point an alias, load a version and predict (Catify
with its pictures, another team with its answer and messages)."""

import base64
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial
from pathlib import PurePosixPath
from typing import Any

import streamlit as st

from ui import navigation

navigation.page_start("models")  # first: a cold server's direct link reruns through the app's navigation at once


import pandas as pd

from core import agents, contract, documents, evaluation, exports, hosted, prompt_sets
from core.config import Settings
from core.conversations import ConversationStore
from core.errors import UserError
from core.mlflow_model import registry
from core.scenarios import ChoiceOption, DocumentOption, IntOption, Scenario
from core.scenarios.catify import DEFAULT_CRITIC_INSTRUCTION, DEFAULT_ITERATIONS, MAX_ITERATIONS
from ui import startup, stores, trace_data, visitor
from ui.text import code, labelled, plain


@dataclass(frozen=True)
class ModelsView:
    """What the page's parts draw from, built once at the top (issue 33: pages as explicit views)."""

    settings: Settings
    store: ConversationStore

    @property
    def uri(self) -> str:
        return self.settings.tracking_uri


settings, maybe_store, store_problem = startup.page()

st.title("Agent teams as MLflow models")
teams = {s.key: s for s in hosted.offered_scenarios(settings.hosted)}
team_key = st.selectbox(
    "Team",
    ["catify", *(k for k in teams if k != "catify")],
    key="model_team",
    format_func=lambda key: "Catify" if key == "catify" else teams[key].label,
    help="Catify, another built-in team or a team file's team (docs/TEAMS.md): each is its own registered model.",
)
if team_key == "catify":
    st.caption(
        "Logged from code (`core/mlflow_model/catify_model.py`, no pickling) with the app's pinned "
        "requirements, registered as `catify`. Keys are never logged: a served model reads `OPENAI_API_KEY` "
        "where it runs."
    )
if maybe_store is None:
    st.error(plain(store_problem or "The MLflow store is unreachable."))
    st.stop()
view = ModelsView(settings, maybe_store)  # what every part below draws from: its store is never None


PROMPT_MAX = settings.hosted.max_message_chars if settings.hosted is not None else None


def admitted(view: ModelsView, prompt: str) -> bool:
    """A hosted demo holds a prediction to the chat's limits: its length and the visitor's turns a minute."""
    try:
        hosted.admit_prediction(
            stores.spend_ledger(view.settings.tracking_uri, view.settings.experiment_name), view.settings.hosted, visitor.visitor(), prompt
        )
    except UserError as exc:
        st.error(plain(exc))
        return False
    return True


@st.cache_resource(show_spinner=False, max_entries=4)
def loaded(tracking_uri: str, model_uri: str) -> Any:
    return registry.load(tracking_uri, model_uri)


# in a hosted demo, visitors predict (offline, free); logging versions and moving aliases is the admin's
VISITOR = hosted.is_visitor(settings.hosted, visitor.is_admin())
EVALUATIONS = hosted.sees_evaluations(settings.hosted, visitor.is_admin())  # they hold other people's words
PEOPLE = hosted.sees_people(settings.hosted, visitor.is_admin())  # who logged or promoted a version
DEMO_PARAMS = {
    "provider": "demo",
    "chat_model": "demo-chat",
    "vision_model": "demo-vision",
    "image_model": "demo-image",
    "image_size": "512x512",
    "image_quality": "standard",
}


ASKER = hosted.asker(settings.hosted, visitor.visitor())  # a prediction's trace is the visitor's own


def shown_versions(view: ModelsView, name: str = registry.MODEL_NAME) -> list[registry.VersionRow]:
    """The model's versions, without who logged or promoted them for a hosted demo's visitors."""
    return [r if PEOPLE else r.without_people() for r in registry.versions(view.uri, name)]


def registry_action(action: Callable[[], str]) -> None:
    """A button callback (it runs before the page is drawn, so a new version is in the table below): only the
    admin's in a hosted demo; what it did, or why not, is said above the table."""
    if VISITOR:
        return
    try:
        st.session_state.model_message = ("success", action())
    except registry.RegistryError as exc:
        st.session_state.model_message = ("error", str(exc))


def set_alias_asking(view: ModelsView, name: str, version_key: str, alias_key: str) -> None:
    """Set alias's callback: an alias that points at another version now is moved only once the person says so
    (issue 32: the form follows a new version with "champion" in it, so one click moved the champion)."""
    if VISITOR:
        return
    alias, version = str(st.session_state.get(alias_key) or "").strip(), int(st.session_state[version_key])
    try:
        now = next((r.version for r in registry.versions(view.uri, name) if alias in r.aliases), None)
    except registry.RegistryError as exc:
        st.session_state.model_message = ("error", str(exc))
        return
    if now is not None and now != version:
        st.session_state.alias_move = (name, alias, now, version)
        return
    move_alias(view, name, alias, version)


def move_alias(view: ModelsView, name: str, alias: str, version: int) -> None:
    st.session_state.pop("alias_move", None)

    def point() -> str:
        registry.set_alias(view.uri, alias, version, name=name)
        return f"{alias} → version {version}"

    registry_action(point)


def confirm_alias_move(view: ModelsView, name: str) -> None:
    """Under the alias form: the move it asks about, with Move and Keep."""
    pending = st.session_state.get("alias_move")
    if not pending or pending[0] != name:
        return
    _, alias, now, version = pending
    with st.container(border=True):
        st.warning(plain(f"“{alias}” points at version {now}. Move it to version {version}?"), icon=":material/sell:")
        cols = st.columns(2)
        cols[0].button(
            f"Move {alias} to version {version}",
            key="alias_move_yes",
            type="primary",
            on_click=move_alias,
            args=(view, name, alias, version),
        )
        cols[1].button(f"Keep it on version {now}", key="alias_move_no", on_click=lambda: st.session_state.pop("alias_move", None))


def model_runtime(scenario: Scenario) -> str:
    """The agent runtime a built-in team is logged on, where more than one can run it (issue 34): each runtime's versions
    are a registered model of their own (`analyst-agentframework`)."""
    runtimes = agents.runtimes_for(scenario)
    if len(runtimes) < 2:
        return ""
    return str(
        st.selectbox(
            "Runtime",
            runtimes,
            key=f"model_runtime_{scenario.key}",
            format_func=labelled(agents.RUNTIME_LABELS),
            help="The agent framework its predictions run on: AutoGen or Microsoft Agent Framework.",
        )
    )


def team_model(view: ModelsView, scenario: Scenario) -> None:  # noqa: C901 - over the complexity limit when it came on (issue 28); split it when it next changes
    """A built-in team or a team file's team as a model: log, versions and aliases, load and predict its answer."""
    runtime = model_runtime(scenario)
    name = registry.team_model_name(scenario.key, runtime)
    if scenario.team_file:
        st.caption(
            f"Logged from code (`core/mlflow_model/team_model.py`) with the team file "
            f"{code(scenario.team_file)} as the version's artifact, registered as {code(name)}; it runs on "
            f"{agents.RUNTIME_LABELS.get(scenario.runtime, scenario.runtime)} (the runtime its file is written for), on the "
            "provider chosen when predicting (the sidebar's by default). Keys are never logged."
        )
    else:
        st.caption(
            f"Logged from code (`core/mlflow_model/team_model.py`) with the options below, registered as "
            f"{code(name)}; it runs on the provider chosen when predicting (the sidebar's by default). "
            "Keys are never logged."
        )
        team_options(view, scenario)

    def log_team_version() -> str:
        options = (
            None if scenario.team_file else {o.key: st.session_state.get(f"model_option_{scenario.key}_{o.key}") for o in scenario.options}
        )
        _, version = registry.log_team(view.uri, view.settings.experiment_name, view.settings, scenario.key, options, runtime)
        st.session_state[f"alias_version_{name}"] = version  # the new version is the one to alias
        return f"Logged {name} version {version}."

    st.button(
        "Log as a new version",
        icon=":material/upload:",
        key="log_team_model",
        on_click=registry_action,
        args=(log_team_version,),
        disabled=VISITOR,
        help="Takes a few seconds: MLflow records the code, the team file and the pins.",
    )
    if message := st.session_state.pop("model_message", None):
        (st.success if message[0] == "success" else st.error)(plain(message[1]))
    try:
        rows = shown_versions(view, name)
    except registry.RegistryError as exc:
        st.error(plain(exc))
        return
    if not rows:
        st.info(f"No version of {name} yet: log one above.")
        return
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "version": r.version,
                    "aliases": ", ".join(r.aliases),
                    "logged": datetime.fromtimestamp(r.created_ms / 1000, timezone.utc),
                    **({"by": r.user} if PEOPLE else {}),
                    "provider": r.provider,
                    "status": r.status,
                }
                for r in rows
            ]
        ),
        hide_index=True,
        width="stretch",
        key="team_versions_table",
    )
    cols = st.columns([1, 1, 1])
    cols[0].selectbox("Version", [r.version for r in rows], key=f"alias_version_{name}")
    cols[1].text_input("Alias", value="champion", key="team_alias_name")
    cols[2].write("")
    cols[2].button(
        "Set alias",
        icon=":material/sell:",
        key="set_team_alias",
        width="stretch",
        on_click=set_alias_asking,
        args=(view, name, f"alias_version_{name}", "team_alias_name"),
        disabled=VISITOR,
    )
    confirm_alias_move(view, name)
    st.subheader("Load and predict")
    choices = {f"models:/{name}@{alias}": r.version for r in rows for alias in r.aliases}
    choices.update({f"models:/{name}/{r.version}": r.version for r in rows})
    cols = st.columns([2, 3])
    chosen_uri = cols[0].selectbox("Model", list(choices), key="team_predict_uri")
    prompt = cols[1].text_input("Prompt", value="What is 12.5 times 8?", key="team_predict_prompt", max_chars=PROMPT_MAX)
    if st.button("Predict", icon=":material/play_arrow:", key="team_predict", type="primary") and admitted(view, prompt):
        try:
            with st.spinner(f"Loading {chosen_uri} and predicting…"):
                model = loaded(view.uri, f"models:/{name}/{choices[chosen_uri]}")
                st.session_state.team_prediction = (
                    name,
                    chosen_uri,
                    registry.predict(
                        model, [prompt], DEMO_PARAMS_TEAM if VISITOR else None, experiment_id=view.store.models_experiment_id, asker=ASKER
                    )[0],
                )
        except registry.RegistryError as exc:
            st.session_state.pop("team_prediction", None)
            st.error(plain(exc))
    if st.session_state.get("team_prediction", ("",))[0] == name:  # this team's last prediction
        _, used, result = st.session_state.team_prediction
        st.markdown(f"**Answer** (from {code(used)}{', waiting for the user' if result['status'] == 'waiting' else ''})")
        st.text(result["answer"])
        with st.expander(f"{len(result['messages'])} message(s)", icon=":material/forum:"):
            for message in result["messages"]:
                st.caption(plain(f"{message['name']} ({message['role']})"))
                st.text(message["text"])
        cost = "unknown" if result["cost_usd"] is None else f"\\${result['cost_usd']:.4f}"
        st.caption(f"Cost {cost} · trace {code(result['trace_id'] or 'not traced')}")
        if result.get("trace_id"):
            st.link_button("Open the trace", f"traces?trace={result['trace_id']}&kind=prediction", icon=":material/monitoring:")
    evaluation_section(view, name, rows, scenario.key)


def team_options(view: ModelsView, scenario: Scenario) -> None:
    """A built-in scenario's options, logged with the version (the report of Analyst & Summarizer too)."""
    with st.expander("Options logged with the version", icon=":material/tune:"):
        for option in scenario.options:
            key = f"model_option_{scenario.key}_{option.key}"
            if isinstance(option, ChoiceOption):
                st.selectbox(
                    option.label,
                    list(option.choices),
                    format_func=labelled(option.choices),
                    index=list(option.choices).index(option.default(view.settings)),
                    key=key,
                )
            elif isinstance(option, IntOption):
                st.number_input(option.label, option.min, option.max, option.default, key=key)
            elif isinstance(option, DocumentOption):
                st.text_area(option.label, "", height=100, key=key, placeholder=option.placeholder, max_chars=documents.MAX_REPORT_CHARS)
            else:
                st.text_area(option.label, option.default, height=100, key=key, max_chars=registry.MAX_INSTRUCTION_CHARS)


# ---- evaluate ---------------------------------------------------------------------------------------------------------
PICTURE_WIDTH = 240
PROMPT_SOURCES = {"saved": "A saved prompt set", "typed": "Type prompts", "upload": "Upload CSV / JSON", "past": "From past turns"}


@st.cache_data(ttl=3600, max_entries=32, show_spinner=False)
def past_evaluation(tracking_uri: str, run_id: str) -> evaluation.Evaluation:
    return evaluation.load(tracking_uri, run_id)  # an evaluation never changes once written


def chosen_prompts(view: ModelsView, scenario_key: str) -> prompt_sets.PromptSet | None:
    """The prompt set the person chose or wrote, saved as an MLflow evaluation dataset when new; None (and the
    reason shown) when there is none yet."""
    source = st.radio(
        "Prompts",
        list(PROMPT_SOURCES),
        format_func=labelled(PROMPT_SOURCES),
        horizontal=True,
        key="eval_source",
    )
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M")
    if source == "saved":
        sets = prompt_sets.list_sets(view.uri, view.store.experiment_id)
        if not sets:
            st.info("No prompt set saved in this experiment yet: type, upload or take prompts from past turns.")
            return None
        chosen = st.selectbox("Prompt set", sets, key="eval_set", format_func=lambda s: f"{s.name} · {s.created_by}")
        return prompt_sets.load(view.uri, chosen.dataset_id)
    if source == "typed":
        text = st.text_area(
            "One prompt a line; add expectations after “ | ”",
            height=110,
            key="eval_typed",
            placeholder="a cat on a windowsill | min_cats: 10\na sunny beach | contains: beach\nthe matrix with a cat | regex: (?i)matrix",
        )
        rows = prompt_sets.from_lines(text) if text.strip() else None
    elif source == "upload":
        upload = st.file_uploader(
            "A CSV with a prompt column (and contains, regex, min_cats), or JSON",
            type=["csv", "json"],
            key="eval_upload",
            # Streamlit's box states its limit in whole MB; the set's own limit is smaller, so it is said here
            help=f"Up to {prompt_sets.MAX_UPLOAD_BYTES // 1000:,} KB and {prompt_sets.MAX_PROMPTS} prompts.",
            max_upload_size=1,
        )
        rows = prompt_sets.from_upload(upload.name, upload.getvalue()) if upload is not None else None
    else:
        count = st.number_input("How many of the newest", 1, prompt_sets.MAX_PROMPTS, 5, key="eval_past_count")
        rows = prompt_sets.from_past_turns(view.uri, view.store.experiment_id, scenario_key, int(count))
    if not rows:
        return None
    st.dataframe(prompt_sets.preview(rows), hide_index=True, width="stretch", key="eval_rows")
    name = st.text_input("Saved as", f"{scenario_key} prompts {stamp}", key=f"eval_set_name_{source}")
    return prompt_sets.PromptSet(name, rows)


def preselected(rows: list[registry.VersionRow]) -> list[str]:
    """The picker's start: the champion first (the list says the first is the champion), then the challenger or the
    newest other version; with no champion, the two newest, the older first."""
    at = {alias: r.version for r in rows for alias in r.aliases}
    if "champion" not in at:
        return [str(r.version) for r in rows[1::-1]]
    if "challenger" in at and at["challenger"] != at["champion"]:
        return ["champion", "challenger"]
    return ["champion", *[str(r.version) for r in rows if r.version != at["champion"]][:1]]


def evaluation_section(view: ModelsView, model_name: str, rows: list, scenario_key: str) -> None:
    """Versions or aliases answer one prompt set; MLflow's GenAI evaluation scores them; promote the winner."""
    st.subheader("Evaluate versions")
    st.caption(
        "Each version answers every prompt in an MLflow run of its own (one trace per answer); "
        "`mlflow.genai.evaluate` scores the answers offline: errors, whether the team ended by its own "
        "termination, cost, latency, each prompt's expectation"
        f"{', cats in the final picture, the critic kept CRITICS:/PROMPT:, iterations' if scenario_key == 'catify' else ''}."
        " The runs show in MLflow's UI as evaluation runs with their traces and scores"
        + (f", in experiment {code(contract.models_experiment_name(view.settings.experiment_name))}." if EVALUATIONS else ".")
    )
    refs = [alias for r in rows for alias in r.aliases] + [str(r.version) for r in rows]
    labels = {str(r.version): f"version {r.version}" for r in rows}
    labels.update({alias: f"{alias} (v{r.version})" for r in rows for alias in r.aliases})
    if not EVALUATIONS:
        st.info("In this hosted demo, evaluations and their results are for its admin.")
        return
    if len(rows) < 2:
        st.info("Log a second version to compare two.")
    else:
        try:
            prompts = chosen_prompts(view, scenario_key)
        except (UserError, prompt_sets.PromptSetError) as exc:
            st.error(plain(exc))
            prompts = None
        default = preselected(rows)
        chosen = st.multiselect(
            "Versions or aliases to compare (the first is the champion)",
            refs,
            default=default,
            format_func=labelled(labels),
            key=f"eval_refs_{model_name}",
        )
        if (
            st.button(
                "Evaluate",
                icon=":material/fact_check:",
                key="evaluate",
                type="primary",
                disabled=prompts is None or len(chosen) < 2,
                help="Runs every prompt on every version chosen: a few seconds a prompt on the demo provider.",
            )
            and prompts is not None
        ):
            try:
                with st.status(f"Evaluating {', '.join(chosen)} on {len(prompts.rows)} prompt(s)…") as status:
                    if not prompts.dataset_id:
                        prompts = prompt_sets.save(view.uri, view.store.experiment_id, prompts.name, prompts.rows, scenario_key)
                    done = evaluation.evaluate(
                        view.uri, view.settings.experiment_name, model_name, chosen, prompts, view.settings, progress=status.write
                    )
                    status.update(label="Evaluated", state="complete", expanded=False)
                st.session_state[f"eval_run_{model_name}"] = done.run_id
            except (UserError, evaluation.EvaluationError, prompt_sets.PromptSetError) as exc:
                st.error(plain(exc))
    try:
        earlier = evaluation.past(view.uri, view.store.experiment_id, model_name)
    except evaluation.EvaluationError as exc:
        st.error(plain(exc))
        return
    if not earlier:
        return
    ids = [e.run_id for e in earlier]
    names = {e.run_id: f"{datetime.fromtimestamp(e.started_ms / 1000, timezone.utc):%Y-%m-%d %H:%M} UTC · {e.name}" for e in earlier}
    latest = st.session_state.get(f"eval_run_{model_name}")
    shown = st.selectbox(
        "Results of",
        ids,
        index=ids.index(latest) if latest in ids else 0,
        format_func=labelled(names),
        key=f"eval_shown_{model_name}_{latest}",
    )
    try:
        result = past_evaluation(view.uri, shown)
    except evaluation.EvaluationError as exc:
        st.error(plain(exc))
        return
    evaluation_results(view, result, rows)


# the evaluation's tables fit a 1400 px screen (issue 32): short labels, what each means on hover
EVALUATION_COLUMNS = {
    "prompt": st.column_config.TextColumn("prompt", width=200),
    "no_error": st.column_config.Column("no error", help="The team answered without an error"),
    "ended_by_termination": st.column_config.Column("ended", help="The team ended by its own termination condition"),
    "expectation": st.column_config.Column("expected", help="The prompt's expectation held (contains, regex, min_cats)"),
    "critic_format": st.column_config.Column("format", help="The critic kept CRITICS:/PROMPT:"),
    "iterations_used": st.column_config.Column("iterations", help="Critique iterations used"),
    "judge": st.column_config.Column("judge", help="The LLM judge's verdict"),
    "passed": st.column_config.Column("passed", help="Checks passed"),
    "cost_usd": st.column_config.NumberColumn("cost", format="$%.4f", help="USD"),
    "latency_s": st.column_config.NumberColumn("latency", format="%.2f s"),
    "mean latency_s": st.column_config.NumberColumn("latency", format="%.2f s", help="Mean latency of an answer"),
    "winner": st.column_config.CheckboxColumn("winner", help="Highest score; ties go to more cats, then lower cost and latency"),
    "error": st.column_config.TextColumn("error", width=200),
}


def evaluation_results(view: ModelsView, result: evaluation.Evaluation, rows: list[registry.VersionRow]) -> None:
    winner = result.winner
    st.markdown(
        f"**Totals per version** on prompt set {code(result.prompt_set)}: the score is the share of checks "
        "passed (no error, ended by its termination, expectation, critic format); ties go to more cats "
        "(Catify), then lower cost and latency."
    )
    st.dataframe(result.totals_table(), hide_index=True, width="stretch", key="eval_totals", column_config=EVALUATION_COLUMNS)
    st.caption(plain(result.judge_note))
    st.markdown("**Per prompt and version**")
    table = result.table()
    st.dataframe(
        table if table["error"].any() else table.drop(columns=["error"]),
        hide_index=True,
        width="stretch",
        key="eval_table",
        column_config=EVALUATION_COLUMNS,
    )
    st.download_button(
        "Download results (CSV)",
        exports.csv_bytes(table),
        f"evaluation-{result.run_id}.csv",
        "text/csv",
        key="dl_evaluation",
        icon=":material/download:",
    )
    if result.scenario == "catify":
        st.markdown("**Final pictures side by side**")
        for prompt in dict.fromkeys(r.prompt for r in result.rows):
            st.caption(plain(prompt))
            answers = [r for r in result.rows if r.prompt == prompt]
            for column, row in zip(st.columns(max(len(answers), 3)), answers):  # thumbnails, not the page's width
                final = row.pictures[-1] if row.pictures else None
                png = (
                    trace_data.picture(view.store, view.uri, row.run_id, PurePosixPath(final["artifact_path"]).stem)
                    if final and final.get("artifact_path")
                    else None
                )
                label = f"{row.ref} (v{row.version})" if row.ref != str(row.version) else f"v{row.version}"
                cats = row.scores.get("cats")
                caption = plain(
                    f"{label} · #{final['index'] if final else '?'} · {'?' if cats is None else int(cats)} cat{'' if cats == 1 else 's'}"
                )
                if png:
                    column.image(png, caption=caption, width=PICTURE_WIDTH)
                else:
                    column.caption(caption + (f" · {plain(row.error)}" if row.error else " · no picture"))
    cols = st.columns([1, 2])
    alias = cols[0].text_input("Alias to move", value="champion", key="promote_alias")
    cols[1].write("")
    if winner.version in [r.version for r in rows if alias.strip() in r.aliases]:  # nothing to move (issue 32)
        cols[1].info(plain(f"{winner.label} is {alias.strip()} already."), icon=":material/emoji_events:")
    elif cols[1].button(
        f"Promote {winner.label}",
        icon=":material/emoji_events:",
        key="promote",
        disabled=VISITOR,
        help=f"Points {alias or 'the alias'} at version {winner.version}; the version records who and when.",
    ):
        try:
            who = visitor.visitor().label
            version, record = evaluation.promote(view.uri, result, alias, who)
            st.success(plain(f"{alias} → {result.model_name} version {version} (promoted by {record})."))
        except evaluation.EvaluationError as exc:
            st.error(plain(exc))


DEMO_PARAMS_TEAM = {"provider": "demo", "chat_model": "demo-chat"}
if team_key != "catify":
    team_model(view, teams[team_key])
    st.stop()

# ---- log --------------------------------------------------------------------------------------------
st.subheader("Log a new version")
if VISITOR:
    st.info(
        "In this hosted demo, logging versions and setting aliases is for its admin; you can load any "
        "version below and predict with the free demo provider."
    )
left, right = st.columns([2, 1])
iterations = left.slider("Critique iterations", 1, MAX_ITERATIONS, DEFAULT_ITERATIONS, key="model_iterations")
left.text_area(
    "Critic instruction",
    DEFAULT_CRITIC_INSTRUCTION,
    height=80,
    key="model_instruction",
    max_chars=registry.MAX_INSTRUCTION_CHARS,
    help="What the critic asks of each picture; logged with the version, so two versions can differ in it.",
)
left.caption(
    f"Provider and models from the sidebar: **{plain(settings.provider)}**, chat {code(settings.chat_model)}, "
    f"vision {code(settings.vision_model)}, images {code(settings.image_model or 'none')}."
)


def log_version(view: ModelsView) -> str:
    version = registry.log_catify(
        view.uri,
        view.settings.experiment_name,
        view.settings,
        st.session_state.model_iterations,
        instruction=st.session_state.model_instruction,
    )
    st.session_state.alias_version = version  # the new version is the one an alias would take (issue 20)
    return f"Logged catify version {version}."


right.button(
    "Log as a new version",
    icon=":material/upload:",
    key="log_model",
    width="stretch",
    on_click=registry_action,
    args=(partial(log_version, view),),
    help="Takes a few seconds: MLflow records the code and the pinned requirements.",
    disabled=VISITOR,
)
if message := st.session_state.pop("model_message", None):
    (st.success if message[0] == "success" else st.error)(plain(message[1]))

# ---- versions ---------------------------------------------------------------------------------------
st.subheader("Versions")
try:
    rows = shown_versions(view)
except registry.RegistryError as exc:
    st.error(plain(exc))
    rows = []
if not rows:
    st.info("No version yet: log one above, or run `python scripts/catify_model.py log`.")
    st.stop()
table = pd.DataFrame(
    [
        {
            "version": r.version,
            "aliases": ", ".join(r.aliases),
            "logged": datetime.fromtimestamp(r.created_ms / 1000, timezone.utc),
            **({"by": r.user} if PEOPLE else {}),
            "provider": r.provider,
            "iterations": r.iterations,
            "critic instruction": r.instruction or "(default, not recorded)",
            "promoted": "; ".join(f"{alias}: {record}" for alias, record in r.promoted.items()),
            "status": r.status,
        }
        for r in rows
    ]
)
st.dataframe(
    table,
    hide_index=True,
    width="stretch",
    key="versions_table",
    column_config={
        "logged": st.column_config.DatetimeColumn("logged (UTC)", format="YYYY-MM-DD HH:mm"),
        "critic instruction": st.column_config.TextColumn(width=260),
        "promoted": st.column_config.TextColumn(width=160),
    },
)
cols = st.columns([1, 1, 1])
alias_version = cols[0].selectbox("Version", [r.version for r in rows], key="alias_version")
alias_name = cols[1].text_input("Alias", value="champion", key="alias_name")
cols[2].write("")
cols[2].button(
    "Set alias",
    icon=":material/sell:",
    key="set_alias",
    width="stretch",
    on_click=set_alias_asking,
    args=(view, registry.MODEL_NAME, "alias_version", "alias_name"),
    disabled=VISITOR,
)
confirm_alias_move(view, registry.MODEL_NAME)

# ---- predict ----------------------------------------------------------------------------------------
st.subheader("Load and predict")
choices = {f"models:/{registry.MODEL_NAME}@{alias}": r.version for r in rows for alias in r.aliases}
choices.update({f"models:/{registry.MODEL_NAME}/{r.version}": r.version for r in rows})
cols = st.columns([2, 2, 1])
model_uri = cols[0].selectbox("Model", list(choices), key="predict_uri", help="An alias follows the version it points to now.")
prompt = cols[1].text_input("Prompt", value="a cat on a windowsill", key="predict_prompt", max_chars=PROMPT_MAX)
logged = next(r for r in rows if r.version == choices[model_uri])
# one box per version, starting at what that version was logged with (issue 20: it started at 1)
predict_iterations = cols[2].number_input(
    "Iterations",
    1,
    MAX_ITERATIONS,
    int(logged.iterations) if logged.iterations.isdigit() else DEFAULT_ITERATIONS,
    key=f"predict_iterations_{logged.version}",
)
if st.button("Predict", icon=":material/play_arrow:", key="predict", type="primary") and admitted(view, prompt):
    try:
        with st.spinner(f"Loading {model_uri} and predicting…"):
            # load by version, so a moved alias never serves a stale cached model
            model = loaded(view.uri, f"models:/{registry.MODEL_NAME}/{choices[model_uri]}")
            params = {"iterations": int(predict_iterations), **(DEMO_PARAMS if VISITOR else {})}
            predicted = registry.predict(model, [prompt], params, experiment_id=view.store.models_experiment_id, asker=ASKER)
            st.session_state.prediction = (model_uri, predicted[0])
    except registry.RegistryError as exc:
        st.session_state.pop("prediction", None)
        st.error(plain(exc))

if "prediction" in st.session_state:
    used, result = st.session_state.prediction
    st.markdown(f"**Final prompt** (from {code(used)})")
    st.text(result["final_prompt"])
    pictures = result["images"]
    columns = st.columns(max(1, min(len(pictures), 4)))
    for i, image in enumerate(pictures):
        with columns[i % len(columns)]:
            if image.get("png_base64"):
                st.image(base64.b64decode(image["png_base64"]), caption=plain(f"#{image['index']}: {image['prompt'][:120]}"))
            else:
                st.caption(f"#{image['index']}: {plain(image.get('artifact_path') or 'no picture')}")
    for number, critique in enumerate(result["critiques"], 1):
        st.caption(f"Critique {number}")
        st.text(critique)
    if result["lineage"]["edges"]:
        index_of = {i["image_id"]: f"#{i['index']}" for i in pictures}  # as the pictures' captions, not hex ids
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "from": index_of.get(e["parent"], e["parent"]),
                        "to": index_of.get(e["child"], e["child"]),
                        "added": " ".join(e["added"]),
                        "removed": " ".join(e["removed"]),
                    }
                    for e in result["lineage"]["edges"]
                ]
            ),
            hide_index=True,
            width="stretch",
            key="prediction_lineage",
        )
    st.caption(f"Cost \\${result['cost_usd']:.4f} · trace {code(result['trace_id'] or 'not traced')}")
    if result.get("trace_id"):
        st.link_button("Open the trace", f"traces?trace={result['trace_id']}&kind=prediction", icon=":material/monitoring:")

evaluation_section(view, registry.MODEL_NAME, rows, "catify")
