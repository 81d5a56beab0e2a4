"""The tracing contract's keys, written once: every `app.*` tag and attribute, every artifact path, and the
MLflow keys both sides use (taken from MLflow's own `mlflow/tracing/constant.py`, never re-spelled).

The write side (`core.observe`, `core.conversations`) and the read side (`core.traces`, the pages) import
these names, grouped by where a key is written as MLflow's own `constant.py` groups its keys (`RunTag`,
`TraceTag`, `SpanAttr`, ...); nothing else spells an `app.` key or an MLflow attribute name as a string
(tests/test_structure.py checks). Stored keys never change: old traces and conversations must still open
(docs/ARCHITECTURE.md, "Tracing contract")."""

from __future__ import annotations

from typing import Final, Mapping

from mlflow.entities import SpanType
from mlflow.entities.assessment_source import AssessmentSourceType
from mlflow.tracing.constant import SpanAttributeKey, TokenUsageKey, TraceMetadataKey, TraceTagKey
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_USER


# --- a conversation: an MLflow run ----------------------------------------------------------------------------------
class RunTag:
    """A conversation's run tags; a logged model version's and an evaluation's runs use the ones below the gap."""

    SCENARIO: Final = "app.scenario"  # also a turn's trace tag
    PROVIDER: Final = "app.provider"  # also a turn's trace tag and a model version's tag
    SESSION: Final = "app.session"  # the browser session (hosted: the visitor) that owns the conversation
    TITLE: Final = "app.title"
    TURNS: Final = "app.turns"  # written last, with the others, when a turn is saved
    UPDATED_MS: Final = "app.updated_ms"
    WAITING: Final = "app.waiting"  # "1": the team asked the user and waits
    SAVE_TOKEN: Final = "app.save"  # a token per save: a session recognises its own save whose answer it never got
    # since issue 34: the agent runtime the conversation runs on (core.agents.RUNTIMES: "agentchat", "agentframework");
    # also a turn's trace tag (the runtime that ran it). A conversation without it runs on its scenario's runtime (AutoGen)
    RUNTIME: Final = "app.runtime"
    SHARE_PREFIX: Final = "app.share."  # + a grant's id: a read-only share link (core.sharing); its value the time made
    PARENT: Final = MLFLOW_PARENT_RUN_ID
    KIND: Final = "app.kind"  # what a run that is not a conversation is: "model", RunKind's values

    # a registered model version's logging run (core.mlflow_model)
    ITERATIONS: Final = "app.iterations"
    LOGGING_RUN: Final = "app.run"
    USER: Final = MLFLOW_USER  # who logged it: local registries keep no user, the run does
    INSTRUCTION: Final = "app.instruction"  # Catify's critic instruction, as logged with the version
    OPTIONS: Final = "app.options"  # a built-in scenario's options as logged with the version (JSON)
    LOGGED_MODEL: Final = "app.logged_model"  # MLflow's logged model id behind a version (evaluations link to it)
    PROMOTED_PREFIX: Final = "app.promoted."  # + an alias: "<who> at <UTC time>" on the version an evaluation promoted

    # an evaluation's runs (core.evaluation)
    EVALUATION: Final = "app.evaluation"  # the parent run's id, on each version's evaluation run
    MODEL_NAME: Final = "app.model"  # on an evaluation's runs: the registered model evaluated
    MODEL_VERSION: Final = "app.model_version"  # on a version's evaluation run: which version (and REF: how it was asked)
    MODEL_REF: Final = "app.model_ref"  # "champion", "3": the alias or version the evaluation was asked for


class RunKind:
    """RunTag.KIND's values (and a prompt set's dataset's)."""

    VARIANTS: Final = "variants"  # a group run of variants
    PROMPT_SET: Final = "prompt_set"  # an evaluation dataset the app made
    EVALUATION: Final = "evaluation"  # an evaluation's parent run


# --- variants of a turn (core.variants): a turn run again with other settings ---------------------------------------
# A variant is a conversation of its own (a run with the tags above) that starts from the state its origin turn
# started from. Every run of variants made together (one fork, or a grid of up to 6 settings) is one group run,
# RunTag.KIND = RunKind.VARIANTS, and each variant is its child by MLflow's own nesting tag (its UI draws them nested).
class VariantTag:
    OF: Final = "app.variant.of"  # the conversation whose turn was run again (run id); on the group run too
    TURN: Final = "app.variant.turn"  # that turn's number; on the group run too
    LABEL: Final = "app.variant.label"  # what this variant changed: "critic instruction: noir · gpt-4.1-mini"
    GROUP: Final = "app.variant.group"  # the group run
    MESSAGE: Final = "app.variant.message"  # on the group run: the message every variant got (cut to 250)


# a conversation's own models, kept with its options (a key no scenario option may take: core.scenarios reserves "_");
# {"provider": ..., "chat_model": ..., "vision_model": ..., "image_model": ...}
MODELS_OPTION: Final = "_models"


# --- a turn: one trace in the conversation's run ---------------------------------------------------------------------
class TraceTag:
    """A turn's trace tags (RunTag.SCENARIO and RunTag.PROVIDER are on it too)."""

    CONVERSATION: Final = "app.conversation"  # the run id
    TURN: Final = "app.turn"  # 1, 2, ...; lands with the trace's last write, so it also marks a trace complete
    ATTEMPT: Final = "app.attempt"  # 1, then 2, 3, ... for retries
    # since issue 31: who owns the turn (`Visitor.owner`, the conversation's RunTag.SESSION; an opaque id, never an
    # email), read by every ownership check; MLflow's own TraceMetadata.USER holds the same, TraceMetadata.SESSION the
    # conversation. Traces before it have neither and hold the owner in TraceMetadata.SESSION (trace_owner reads both)
    OWNER: Final = "app.owner"
    LABEL: Final = "app.label"  # since issue 31: the scenario's label when the turn ran (a team file's, from the file)
    BILLING: Final = "app.billing"
    SUMMARY: Final = "app.summary"  # core.observe.summary: the turn's calls per (kind, model, agent)
    # What a trace is (a tag on every trace written since 2026-12, issue 29): TraceKind's values. Every view that must
    # tell them apart reads it through kind_of (older traces: by their session and scenario).
    KIND: Final = "app.trace.kind"
    NAME: Final = TraceTagKey.TRACE_NAME


BILLED_TO_OWNER: Final = "owner"  # BILLING's value for a hosted demo's turn on the owner's key (who paid; the caps are in core.ledger)
# Still 1 after calls came to follow MLflow's aggregation at any depth (summary.calls, issue 16): a v1 summary
# is written only by our write side, whose call spans never hold another call below them except an SDK span
# autologged straight inside one (dropped by both rules alike) and always name their model; the new rule gives
# those traces the same groups, so every stored v1 summary is still exact and needs no walk.
SUMMARY_VERSION: Final = 1


class TraceKind:
    """What a trace is: a turn of a chat, a model's prediction (the Models page, `mlflow models serve`, scripts) or a
    version's answer in an evaluation."""

    CHAT: Final = "chat"
    PREDICTION: Final = "prediction"
    EVALUATION: Final = "evaluation"
    ALL: Final = (CHAT, PREDICTION, EVALUATION)
    PREDICTION_SESSION: Final = "model-prediction"  # the session of a prediction nobody in particular asked for
    MODEL_SCENARIO_SUFFIX: Final = "@model"  # a team's scenario key as a logged model predicts it (older traces: a prediction)


# Since issue 32 predictions and evaluations (their runs and answers) live in an experiment of their own, named after the
# chat's with this suffix and tagged ExperimentTag.MODELS_OF = the chat experiment's id, so the chat experiment's
# unfiltered view (the only request MLflow's daily trace rollups serve) is chat turns alone. Older stores hold both in
# the chat experiment: readers tell them apart by kind_of wherever they meet. A suffix, not a "/" path: MLflow's UI
# lists it next to the chat's, and on Databricks a "/" would be a folder.
MODELS_EXPERIMENT_SUFFIX: Final = " (models)"


class ExperimentTag:
    MODELS_OF: Final = "app.models_of"  # the chat experiment whose predictions and evaluations this one holds


class TurnAttr:
    """A turn's root span attributes (older traces: in the outputs)."""

    STATUS: Final = "app.turn.status"  # ok, waiting or stopped
    STOP_REASON: Final = "app.turn.stop_reason"  # the team's own words for why it stopped
    STEPS: Final = "app.turn.steps"  # messages the team produced
    ERROR: Final = "app.turn.error"  # a failed turn: the sentence the user saw (secrets removed); also the response


# --- feedback on a turn: an MLflow assessment on its trace (core.feedback) ----------------------------------------------
class Assessment:
    FEEDBACK: Final = "user_feedback"  # the assessment's name: value True (thumbs up) or False (down), rationale = comment
    FEEDBACK_SOURCE: Final = AssessmentSourceType.HUMAN  # its source type; the source id is who gave it
    # a side of a comparison someone preferred (core.compare): value True, rationale = the traces it was preferred over
    PREFERRED: Final = "preferred"


# --- spans ------------------------------------------------------------------------------------------------------------
class ImageSpan:
    """How a picture's span is told apart: since 2026-11 it is an LLM span (MLflow's UI gives it the model icon and
    keeps it in its summary view; custom types get neither), told from chat calls by its name, which every reader has
    cheaply; before, it had a type of its own, which readers still recognise."""

    TYPE: Final = SpanType.LLM
    TYPE_BEFORE_2026_11: Final = "IMAGE_GENERATION"  # also a picture call's kind in the turn's summary
    NAME_PREFIX: Final = "generate image "


class SpanAttr:
    """Span attributes: the app's own, then MLflow's, by its constants (never re-spelled)."""

    AGENT: Final = "app.agent"  # a model call's span: the agent that made it
    IMAGE_ID: Final = "app.image.id"
    IMAGE_PATH: Final = "app.image.artifact_path"
    IMAGE_MODEL: Final = "app.image.model"
    IMAGE_SIZE: Final = "app.image.size"
    IMAGE_QUALITY: Final = "app.image.quality"
    IMAGE_COST: Final = "app.image.cost_usd"  # -1 when the price is unknown
    IMAGE_PARENT: Final = "app.image.parent"
    # a picture's usage as the server reported it (gpt-image: text and image input tokens, image output tokens), priced
    # into the span's cost; kept out of MLflow's usage key, whose trace totals count chat tokens. A dict: input_tokens,
    # output_tokens, total_tokens, text_input_tokens, image_input_tokens, image_output_tokens (and text_output_tokens
    # when the server reported any); absent when the server reported none (dall-e-3)
    IMAGE_USAGE: Final = "app.image.usage"
    # a model call's usage beyond MLflow's keys (issue 30): reasoning tokens are part of the output tokens (billed as
    # output; MLflow's usage has no key for them); a note says what was clamped or why the tokens are unknown, and on an
    # image span what MLflow's catalog did not know about the picture's price (dall-e-3: no rates, priced per picture)
    REASONING_TOKENS: Final = "app.usage.reasoning_tokens"
    USAGE_NOTE: Final = "app.usage.note"
    STREAM_CHUNKS: Final = "app.stream.chunks"  # a streamed call: the chunks its server sent (not each as an event)

    MODEL: Final = SpanAttributeKey.MODEL
    MODEL_PROVIDER: Final = SpanAttributeKey.MODEL_PROVIDER
    COST: Final = SpanAttributeKey.LLM_COST
    USAGE: Final = SpanAttributeKey.CHAT_USAGE  # its keys: Usage
    TRACE_TAG_PREFIX: Final = SpanAttributeKey.TRACE_TAG_PREFIX
    SESSION_ID: Final = SpanAttributeKey.SESSION_ID  # the root span's copy of the session
    REQUEST_ID: Final = SpanAttributeKey.REQUEST_ID
    EXPERIMENT_ID: Final = SpanAttributeKey.EXPERIMENT_ID
    INPUTS: Final = SpanAttributeKey.INPUTS
    OUTPUTS: Final = SpanAttributeKey.OUTPUTS
    TYPE: Final = SpanAttributeKey.SPAN_TYPE
    # MLflow's own span bookkeeping (mlflow.spanInputs, mlflow.spanType, ...): the prefix its keys share
    INTERNAL_PREFIX: Final = SpanAttributeKey.INPUTS.rsplit("Inputs", 1)[0]


TOOL_ERROR_PREFIX: Final = "ERROR:"  # a tool result starting with it marks the TOOL span failed


class Usage:
    """The keys inside SpanAttr.USAGE (MLflow's); cached input tokens are part of the input tokens, priced at the
    cache-read rate."""

    INPUT_TOKENS: Final = TokenUsageKey.INPUT_TOKENS
    OUTPUT_TOKENS: Final = TokenUsageKey.OUTPUT_TOKENS
    TOTAL_TOKENS: Final = TokenUsageKey.TOTAL_TOKENS
    CACHE_READ_INPUT_TOKENS: Final = TokenUsageKey.CACHE_READ_INPUT_TOKENS


class TraceMetadata:
    """MLflow's trace metadata keys the app writes or reads."""

    SESSION: Final = TraceMetadataKey.TRACE_SESSION  # the conversation (its run id); before issue 31 the owner
    USER: Final = TraceMetadataKey.TRACE_USER  # the owner (Visitor.owner), since issue 31
    TOKEN_USAGE: Final = TraceMetadataKey.TOKEN_USAGE
    COST: Final = TraceMetadataKey.COST
    SOURCE_RUN: Final = TraceMetadataKey.SOURCE_RUN


# A turn's trace (and root span) is named "<scenario> turn": one name per scenario, so MLflow's trace metrics can
# filter and group by it (its own trace_name column) instead of an EXISTS on the scenario tag for every trace, 8x
# slower at 100,000 traces; its UI's trace-name column reads the same. The turn's number is the TURN tag. Traces
# written before 2026-11-26 are named "<scenario> turn <n>" and still read.
TURN_NAME_SUFFIX: Final = " turn"


def kind_of(tags: Mapping[str, str], session: str = "") -> str:
    """What a trace is (a TraceKind): its TraceTag.KIND tag; a trace written before the tag, by its session (every
    prediction's was TraceKind.PREDICTION_SESSION) or scenario (a team's prediction's ends in
    TraceKind.MODEL_SCENARIO_SUFFIX): a prediction (an evaluation's answers were predictions then too), else a chat turn."""
    kind = tags.get(TraceTag.KIND)
    if kind in TraceKind.ALL:
        return str(kind)
    if session == TraceKind.PREDICTION_SESSION or tags.get(RunTag.SCENARIO, "").endswith(TraceKind.MODEL_SCENARIO_SUFFIX):
        return TraceKind.PREDICTION
    return TraceKind.CHAT


def models_experiment_name(chat_experiment_name: str) -> str:
    """The experiment that holds the predictions and evaluations of the chats in `chat_experiment_name`."""
    return f"{chat_experiment_name}{MODELS_EXPERIMENT_SUFFIX}"


def turn_name(scenario: str) -> str:
    return f"{scenario}{TURN_NAME_SUFFIX}"


def scenario_of_turn_name(name: str, known: tuple[str, ...]) -> str | None:
    """The scenario a trace named by turn_name (or its older "<scenario> turn <n>") belongs to, when it is known."""
    if name.endswith(TURN_NAME_SUFFIX) and name[: -len(TURN_NAME_SUFFIX)] in known:
        return name[: -len(TURN_NAME_SUFFIX)]
    head, infix, tail = name.rpartition(TURN_NAME_SUFFIX + " ")
    return head if infix and tail.isdigit() and head in known else None


def is_older_turn_name(name: str, scenario: str) -> bool:
    """A name written before one name per scenario: "<scenario> turn <n>"."""
    return name != turn_name(scenario) and scenario_of_turn_name(name, (scenario,)) == scenario


def trace_owner(tags: Mapping[str, str] | None, metadata: Mapping[str, str] | None) -> str:
    """Who owns a turn's trace, from the app's own tag (since issue 31, when MLflow's session became the
    conversation); a trace written before it kept its owner as MLflow's session, and stays theirs."""
    return str((tags or {}).get(TraceTag.OWNER) or (metadata or {}).get(TraceMetadata.SESSION) or "")


# --- prompt sets (core.prompt_sets) -----------------------------------------------------------------------------------
PROMPT_ORDER: Final = "app.order"  # a prompt set record's place in the set (MLflow's dataset keeps no order)


# --- run artifacts ---------------------------------------------------------------------------------------------------
class Artifact:
    STATE: Final = "conversation/state.json"
    STATES_DIR: Final = "conversation/states"  # the team's state after each turn (since 2026-11-26): variants start there
    TRANSCRIPT: Final = "conversation/transcript.json"
    IMAGE_LOOKUP: Final = "image_lookup.json"
    IMAGES_DIR: Final = "images"
    EVALUATION_RESULTS: Final = "evaluation/results.json"  # an evaluation's parent run: every row, score and total


def image_artifact_path(image_id: str) -> str:
    return f"{Artifact.IMAGES_DIR}/{image_id}.png"


def state_after_path(turn: int) -> str:
    """The team's state as it was after `turn` (a variant of turn n starts from the state after n - 1)."""
    return f"{Artifact.STATES_DIR}/{int(turn)}.json"
