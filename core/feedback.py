"""Feedback on a turn: a person's thumbs up or down and an optional comment, kept as MLflow's own assessment on the
turn's trace (a `Feedback` named `contract.Assessment.FEEDBACK`, value True/False, the comment as its rationale, source HUMAN
with who gave it), so MLflow's UI shows it beside the trace and any MLflow client reads it back.

One current rating per person per trace: a second click changes it in place (`update_assessment`, what MLflow's
own UI does when people edit their own feedback; it overrides only someone else's), clearing it deletes it. A
hosted demo's visitor rates only their own turns (the trace's owner: `contract.trace_owner`), checked
here on every write, not only by what the chat page shows (docs/ARCHITECTURE.md, "Tracing contract")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from mlflow.entities import AssessmentSource, Feedback
from mlflow.exceptions import MlflowException
from mlflow.tracing.client import TracingClient

from . import contract, hosted
from .conversations import is_valid_run_id
from .errors import InputError, UserError
from .observe import export
from .store import is_not_found

MAX_COMMENT_CHARS = 2_000  # a comment is a note on a turn, not a document; shown as plain text everywhere
MAX_WHO_CHARS = 250  # MLflow's assessments.source_id
# words, not emoji: an emoji shows as a box where no emoji font is installed (issue 32); markdown places add the
# Material icons beside them (ui.feedback.ICONS)
UP, DOWN = "up", "down"


class FeedbackError(UserError):
    """The rating could not be written or read; the message says why, in one sentence."""


class FeedbackRefused(UserError):
    """The person may not rate this turn (a hosted demo's visitor and another session's trace)."""


@dataclass(frozen=True)
class Rating:
    """One person's current rating of one turn, as MLflow keeps it."""

    trace_id: str
    who: str  # the assessment's source id: a signed-in user's e-mail, else a browser session id
    up: bool
    comment: str
    assessment_id: str
    updated_ms: int

    @property
    def mark(self) -> str:
        return f"thumbs {UP if self.up else DOWN}"


@dataclass(frozen=True)
class TurnFeedback:
    """A turn's current ratings: this person's (or None) and everyone else's."""

    mine: Rating | None = None
    others: tuple[Rating, ...] = ()


def ratings(assessments: Iterable[Any] | None) -> list[Rating]:
    """The current ratings among a trace's assessments, newest first: valid (not overridden) HUMAN feedback named
    `contract.Assessment.FEEDBACK` with a True/False value. The SQL read of the Traces page (core.traces) counts by the same rule."""
    found = []
    for a in assessments or ():
        feedback = getattr(a, "feedback", None)
        source = getattr(a, "source", None)
        if (
            getattr(a, "name", None) != contract.Assessment.FEEDBACK
            or getattr(a, "valid", True) is False
            or feedback is None
            or source is None
            or source.source_type != contract.Assessment.FEEDBACK_SOURCE
            or not isinstance(feedback.value, bool)
        ):
            continue
        found.append(
            Rating(
                trace_id=str(a.trace_id or ""),
                who=str(source.source_id or ""),
                up=feedback.value,
                comment=str(a.rationale or ""),
                assessment_id=str(a.assessment_id),
                updated_ms=int(a.last_update_time_ms or a.create_time_ms or 0),
            )
        )
    return sorted(found, key=lambda r: r.updated_ms, reverse=True)


def counts(assessments: Iterable[Any] | None) -> tuple[int, int]:
    """(thumbs up, thumbs down) among a trace's current ratings."""
    current = ratings(assessments)
    up = sum(r.up for r in current)
    return up, len(current) - up


def mark(up: int, down: int) -> str:
    """A trace's ratings in one short cell: "1 up", "2 down", "1 up · 1 down", or "" when nobody rated it."""
    return " · ".join(f"{n} {word}" for n, word in ((up, UP), (down, DOWN)) if n)


def check_who(who: str) -> str:
    who = (who or "").strip()
    if not who or len(who) > MAX_WHO_CHARS:
        raise InputError(f"A rating needs who gave it (1 to {MAX_WHO_CHARS} characters).")
    return who


def check_comment(comment: str) -> str:
    comment = comment.strip()
    if len(comment) > MAX_COMMENT_CHARS:
        raise InputError(f"A comment can have up to {MAX_COMMENT_CHARS:,} characters; this one has {len(comment):,}.")
    return comment


def rate(  # noqa: PLR0913 - over the argument limit when it came on (issue 28); issue 33 gathers these into records
    tracking_uri: str,
    trace_id: str,
    who: str,
    up: bool | None,
    comment: str | None = None,
    *,
    owner: str | None = None,
    wait_s: float = 5.0,
) -> Rating | None:
    """Set `who`'s rating of the turn traced as `trace_id`: up (True), down (False) or none (None: deleted, with its
    comment). `comment` None keeps the current comment, "" clears it. `owner` is the session whose traces this
    person may rate (a hosted demo's visitor: `hosted.visible_session`), None for anyone's. The chat shows a turn
    before its trace lands (~0.2 s, longer under load), so a missing trace is waited for up to `wait_s`."""
    who = check_who(who)
    comment = None if comment is None else check_comment(comment)
    client = TracingClient(tracking_uri)
    info = _landed_info(client, tracking_uri, trace_id, wait_s)
    if not hosted.may_open(owner, contract.trace_owner(info.tags, info.trace_metadata)):
        raise FeedbackRefused("You can rate only the turns of your own conversations in this demo.")
    try:
        mine = [r for r in ratings(info.assessments) if r.who == who]
        for extra in mine[1:]:  # two tabs that rated at once: the newest stays the person's one rating
            client.delete_assessment(trace_id=trace_id, assessment_id=extra.assessment_id)
        if up is None:
            if mine:
                client.delete_assessment(trace_id=trace_id, assessment_id=mine[0].assessment_id)
            return None
        if mine:
            written = client.update_assessment(
                trace_id=trace_id,
                assessment_id=mine[0].assessment_id,
                assessment=Feedback(name=contract.Assessment.FEEDBACK, value=up, rationale=comment),
            )
        else:  # what mlflow.log_feedback does, on this store rather than the process's current one
            written = client.log_assessment(
                trace_id,
                Feedback(
                    name=contract.Assessment.FEEDBACK,
                    value=up,
                    rationale=comment or None,
                    source=AssessmentSource(source_type=contract.Assessment.FEEDBACK_SOURCE, source_id=who),
                ),
            )
    except MlflowException as exc:
        raise FeedbackError(f"The rating could not be saved ({str(exc.message)[:200]}).") from exc
    except Exception as exc:
        raise FeedbackError(f"The rating could not be saved ({type(exc).__name__}).") from exc
    return Rating(
        trace_id=trace_id,
        who=who,
        up=up,
        comment=str(written.rationale or ""),
        assessment_id=str(written.assessment_id),
        updated_ms=int(written.last_update_time_ms or written.create_time_ms or 0),
    )


def prefer(tracking_uri: str, trace_id: str, over: Iterable[str], who: str, *, owner: str | None = None, wait_s: float = 5.0) -> str:
    """Mark a side of a comparison (core.compare) as `who`'s preferred one: an MLflow feedback named
    `contract.Assessment.PREFERRED` on its trace, value True, the traces it was preferred over as its rationale; one per person
    per trace (a second choice of the same side updates it). Returns the assessment's id."""
    who = check_who(who)
    others = [t for t in over if t != trace_id]
    rationale = "preferred over " + ", ".join(others) if others else "preferred"
    client = TracingClient(tracking_uri)
    info = _landed_info(client, tracking_uri, trace_id, wait_s)
    if not hosted.may_open(owner, contract.trace_owner(info.tags, info.trace_metadata)):
        raise FeedbackRefused("You can mark only the turns of your own conversations in this demo.")
    mine = [
        a
        for a in info.assessments or ()
        if getattr(a, "name", None) == contract.Assessment.PREFERRED
        and getattr(a, "valid", True) is not False
        and getattr(getattr(a, "source", None), "source_id", None) == who
    ]
    try:
        if mine:
            written = client.update_assessment(
                trace_id=trace_id,
                assessment_id=mine[0].assessment_id,
                assessment=Feedback(name=contract.Assessment.PREFERRED, value=True, rationale=rationale),
            )
        else:
            written = client.log_assessment(
                trace_id,
                Feedback(
                    name=contract.Assessment.PREFERRED,
                    value=True,
                    rationale=rationale,
                    source=AssessmentSource(source_type=contract.Assessment.FEEDBACK_SOURCE, source_id=who),
                ),
            )
    except MlflowException as exc:
        raise FeedbackError(f"The choice could not be saved ({str(exc.message)[:200]}).") from exc
    except Exception as exc:
        raise FeedbackError(f"The choice could not be saved ({type(exc).__name__}).") from exc
    return str(written.assessment_id)


def preferred_by(assessments: Iterable[Any] | None) -> list[str]:
    """Who marked a trace as preferred (valid `contract.Assessment.PREFERRED` feedback), as MLflow keeps it."""
    return [
        str(a.source.source_id)
        for a in assessments or ()
        if getattr(a, "name", None) == contract.Assessment.PREFERRED
        and getattr(a, "valid", True) is not False
        and getattr(a, "feedback", None) is not None
        and a.feedback.value is True
        and getattr(a, "source", None) is not None
    ]


def _landed_info(client: TracingClient, tracking_uri: str, trace_id: str, wait_s: float) -> Any:
    """The trace's info from the store once its last write landed (our tags and its session come with it)."""
    info = _stored_info(client, trace_id)
    if info is None or not _landed(info):
        export.wait_for_trace(tracking_uri, trace_id, timeout_s=wait_s)
        info = _stored_info(client, trace_id)
    if info is None or not _landed(info):
        raise FeedbackError("This turn's trace is not in the MLflow store yet, so it cannot be rated; try again in a moment.")
    return info


def _landed(info: Any) -> bool:
    return str(getattr(info.state, "value", info.state)) in ("OK", "ERROR") and contract.TraceTag.TURN in (info.tags or {})


def _stored_info(client: TracingClient, trace_id: str) -> Any:
    try:
        return client.store.get_trace_info(trace_id)  # the store itself: the client would answer live traces from memory
    except MlflowException as exc:
        if is_not_found(exc):
            return None
        raise FeedbackError(f"The MLflow store could not be read ({str(exc.message)[:200]}).") from exc
    except Exception as exc:
        raise FeedbackError(f"The MLflow store could not be read ({type(exc).__name__}).") from exc


def for_conversation(tracking_uri: str, experiment_id: str, conversation_id: str, who: str) -> dict[str, TurnFeedback]:
    """Every turn's current ratings in one conversation, by trace id: one search of the store (its turns' trace
    infos, which carry their assessments; no spans), however many turns it has."""
    if not is_valid_run_id(conversation_id):
        return {}
    client = TracingClient(tracking_uri)
    found: dict[str, TurnFeedback] = {}
    token = None
    try:
        while True:
            page = client.search_traces(
                locations=[str(experiment_id)],
                include_spans=False,
                max_results=500,
                filter_string=f"tags.`{contract.TraceTag.CONVERSATION}` = '{conversation_id}'",
                page_token=token,
            )
            for trace in page:
                current = ratings(trace.info.assessments)
                mine = next((r for r in current if r.who == who), None)
                found[trace.info.trace_id] = TurnFeedback(mine, tuple(r for r in current if r is not mine))
            token = page.token
            if not token:
                return found
    except MlflowException as exc:
        raise FeedbackError(f"The ratings could not be read ({str(exc.message)[:200]}).") from exc
    except Exception as exc:
        raise FeedbackError(f"The ratings could not be read ({type(exc).__name__}).") from exc
