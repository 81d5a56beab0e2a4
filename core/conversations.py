"""Conversations persist as MLflow runs: tags say what they are, artifacts hold the team state, the
transcript the chat page shows, the pictures and their lineage. Everything goes through `MlflowClient`
with an explicit run id: the fluent API keeps a process-wide active run, wrong for a multi-user server."""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from mlflow.entities import Run, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from . import contract, store
from .errors import InputError
from .records import ImageLookup, TranscriptEntry

_RUN_ID = re.compile(r"^[0-9a-f]{32}$")
_IMAGE_ID = re.compile(r"^[0-9a-f]{8,32}$")


class ConversationError(Exception):
    """A conversation that cannot be opened; the message is meant for the user."""


class StoreUnavailable(ConversationError):
    pass


class ConversationConflict(ConversationError):
    """Another tab or window added a turn since this one loaded the conversation."""


@dataclass(frozen=True)
class ConversationSummary:
    """One line of the recent-conversations list."""

    id: str
    scenario: str
    title: str
    turns: int
    updated_ms: int
    waiting: bool  # the team asked the user something and waits for the answer
    session: str = ""  # whose it is (contract.RunTag.SESSION): a hosted demo's visitor sees only their own
    variant: str = ""  # what a variant ("run again with…") changed (contract.VariantTag.LABEL), as Compare names it

    def list_title(self, limit: int = 34) -> str:
        """The title in at most `limit` characters, cut at a word. A variant's title is its origin's title, then
        what it changed: cut as a whole, four re-runs of one turn read as four copies (issue 32), so the change
        keeps its words and the origin's title gives way ("A cat sitting… · critic instruction: noir")."""
        suffix = f" · {self.variant}"
        if not self.variant or not self.title.endswith(suffix):  # not a variant, or renamed since: its own words
            return _shorten(self.title, limit)
        change = _shorten(self.variant, max(limit - 8, 12))
        return f"{_shorten(self.title[: -len(suffix)], max(limit - len(change) - 3, 14))} · {change}"


@dataclass
class Conversation:
    scenario: str
    session_id: str
    provider: str
    id: str | None = None  # the MLflow run id; None until saved (or while the store is unreachable)
    title: str = ""
    state: dict[str, Any] | None = None
    transcript: list[TranscriptEntry] = field(default_factory=list)
    image_lookup: ImageLookup = field(default_factory=dict)
    images: dict[str, bytes] = field(default_factory=dict)  # a cache; pictures live in the run's artifacts
    turns: int = 0
    options: dict[str, Any] = field(default_factory=dict)
    # completed turns the store has not got yet (it was unreachable): the session holds them until it answers
    pending_turns: int = 0
    save_token: str = ""  # of this session's newest save attempt (contract.RunTag.SAVE_TOKEN)
    key: str = field(default_factory=lambda: uuid.uuid4().hex)  # this copy's identity within a browser session
    run_tags: dict[str, str] = field(default_factory=dict)  # more tags for its run when it is created (a variant's)
    runtime: str = ""  # the agent runtime it runs on (core.agents.RUNTIMES); "": its scenario's (AutoGen for the seeds)

    @property
    def saved_turns(self) -> int:
        return self.turns - self.pending_turns


def artifact_location(tracking_uri: str) -> str | None:
    """Next to a sqlite file, not wherever the process happens to run; a server decides its own."""
    if tracking_uri.startswith("sqlite:///"):
        db = Path(tracking_uri[len("sqlite:///") :]).resolve()
        return (db.parent / "mlartifacts").as_uri()
    return None


def models_experiment(client: MlflowClient, tracking_uri: str, experiment_id: str) -> str:
    """The experiment that holds the predictions and evaluations of chats in `experiment_id` (contract.ExperimentTag.MODELS_OF),
    made on first use; `experiment_id` itself when it is one already (a served model pointed at it)."""
    chat = client.get_experiment(str(experiment_id))
    if contract.ExperimentTag.MODELS_OF in (chat.tags or {}):
        return str(chat.experiment_id)
    name = contract.models_experiment_name(chat.name)
    found = client.get_experiment_by_name(name)
    if found is None:
        try:
            return str(
                client.create_experiment(
                    name,
                    artifact_location=artifact_location(tracking_uri),
                    tags={contract.ExperimentTag.MODELS_OF: str(chat.experiment_id)},
                )
            )
        except Exception:  # created meanwhile by another session
            found = client.get_experiment_by_name(name)
            if found is None:
                raise
    return str(found.experiment_id)


def find_models_experiment(client: MlflowClient, experiment_id: str) -> str | None:
    """The models experiment of the chats in `experiment_id` when there is one (readers: nothing is made)."""
    chat = client.get_experiment(str(experiment_id))
    if chat is None or contract.ExperimentTag.MODELS_OF in (chat.tags or {}):
        return None
    found = client.get_experiment_by_name(contract.models_experiment_name(chat.name))
    return None if found is None or found.lifecycle_stage != "active" else str(found.experiment_id)


def is_valid_run_id(value: str) -> bool:
    return bool(_RUN_ID.fullmatch(value or ""))


def is_valid_image_id(value: str) -> bool:
    return bool(_IMAGE_ID.fullmatch(value or ""))


class ConversationStore:
    """Reads and writes conversations in one experiment of one tracking store. Constructing one changes
    nothing process-wide; `connect` also prepares the store for traced turns (`core.store.prepare`)."""

    @classmethod
    def connect(cls, tracking_uri: str, experiment_name: str) -> "ConversationStore":
        """The store that turns write to: MLflow's tracing pointed at it first, explicitly."""
        store.prepare(tracking_uri)
        return cls(tracking_uri, experiment_name)

    def __init__(self, tracking_uri: str, experiment_name: str):
        self.tracking_uri = tracking_uri
        self.experiment_name = experiment_name
        self.client = MlflowClient(tracking_uri)
        self._experiment_id: str | None = None
        self._artifact_root: str | None = None

    @property
    def experiment_id(self) -> str:
        if self._experiment_id is None:
            experiment = self.client.get_experiment_by_name(self.experiment_name)
            if experiment is None:
                try:
                    self._experiment_id = self.client.create_experiment(self.experiment_name, artifact_location=self._artifact_location())
                except Exception:  # created meanwhile by another session
                    experiment = self.client.get_experiment_by_name(self.experiment_name)
                    if experiment is None:
                        raise
                    self._experiment_id = experiment.experiment_id
            else:
                self._experiment_id = experiment.experiment_id
        return self._experiment_id

    @property
    def models_experiment_id(self) -> str:
        """The experiment this store's model predictions and evaluations trace into (made on first use)."""
        return models_experiment(self.client, self.tracking_uri, self.experiment_id)

    def artifacts_problem(self) -> str | None:
        """Why this app cannot reach the experiment's artifacts (transcripts, team state, pictures) from here, in a
        sentence saying what to set; None when it can. The case: a store created through an MLflow server keeps
        them behind the server's artifact proxy (`mlflow-artifacts:/…`), which only an http tracking URI reaches;
        an app pointed straight at the database would open every conversation empty."""
        if self.tracking_uri.startswith(("http://", "https://")):
            return None
        if self._artifact_root is None:  # an experiment keeps its artifact location: asked once
            self._artifact_root = str(getattr(self.client.get_experiment(self.experiment_id), "artifact_location", "") or "")
        location = self._artifact_root
        if location.startswith("mlflow-artifacts:"):
            return (
                "This experiment keeps its conversations' transcripts and pictures behind an MLflow server's "
                f"artifact proxy ({location[:80]}), which the app cannot reach through the database it points at. "
                "Set MLFLOW_TRACKING_URI to that server's address (http://…) instead of the database."
            )
        return None

    def _artifact_location(self) -> str | None:
        return artifact_location(self.tracking_uri)

    def create(self, conversation: Conversation) -> str:
        title = conversation.title or "new conversation"
        run = self.client.create_run(
            self.experiment_id,
            run_name=_run_name(conversation.scenario, title),
            tags={
                contract.RunTag.SCENARIO: conversation.scenario,
                contract.RunTag.PROVIDER: conversation.provider,
                contract.RunTag.SESSION: conversation.session_id,
                contract.RunTag.TITLE: title[:250],
                contract.RunTag.TURNS: "0",
                **({contract.RunTag.RUNTIME: conversation.runtime} if conversation.runtime else {}),
                **conversation.run_tags,
            },
        )
        conversation.id = run.info.run_id
        return conversation.id

    def save_image(self, run_id: str, image_id: str, png: bytes) -> str:
        if not is_valid_image_id(image_id):
            raise ValueError(f"Refusing an image id that is not plain hex: {image_id!r}")
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, f"{image_id}.png")
            with open(path, "wb") as fh:
                fh.write(png)
            self.client.log_artifact(run_id, path, contract.Artifact.IMAGES_DIR)
        return contract.image_artifact_path(image_id)

    def stored_turns(self, run_id: str) -> int:
        return int(self.client.get_run(run_id).data.tags.get(contract.RunTag.TURNS, "0") or 0)

    def check_unchanged(self, conversation: Conversation) -> None:
        """Raise ConversationConflict when the stored conversation has moved past what this session last saved
        (another tab). A save of ours that landed although its answer was lost counts as saved; fewer stored
        turns is no conflict (a save that failed before its tags, which are written last)."""
        if not conversation.id:
            raise ValueError("check_unchanged needs a saved conversation (one with a run id).")
        tags = self.client.get_run(conversation.id).data.tags
        stored = int(tags.get(contract.RunTag.TURNS, "0") or 0)
        if (
            conversation.pending_turns
            and conversation.save_token
            and tags.get(contract.RunTag.SAVE_TOKEN) == conversation.save_token
            and stored == conversation.turns
        ):
            conversation.pending_turns = 0
            return
        if stored > conversation.saved_turns:
            raise ConversationConflict(
                f"This conversation was continued in another tab or window: it now has {stored} turn{'' if stored == 1 else 's'}, "
                f"this page knew {conversation.saved_turns}. Nothing was overwritten. Reload the conversation to carry on from "
                "the newest turn."
            )

    def save(self, conversation: Conversation) -> None:
        """Write state, transcript and lineage after a completed turn (never half a turn), then every tag in one
        batch (the turn count marks the turn as saved). Unchecked: `save_pending` is the guarded way."""
        if not conversation.id:
            raise ValueError("create() the conversation first.")
        run_id = conversation.id
        self.client.log_dict(run_id, conversation.state or {}, contract.Artifact.STATE)
        # and as it was after this turn: a variant of the next turn starts from it (core.variants)
        self.client.log_dict(run_id, conversation.state or {}, contract.state_after_path(conversation.turns))
        self.client.log_dict(
            run_id,
            {"scenario": conversation.scenario, "options": conversation.options, "messages": conversation.transcript},
            contract.Artifact.TRANSCRIPT,
        )
        self.save_lookup(conversation)
        waiting = bool(conversation.transcript and conversation.transcript[-1].get("asks_user"))
        conversation.save_token = uuid.uuid4().hex
        tags = {
            contract.RunTag.WAITING: "1" if waiting else "0",
            contract.RunTag.UPDATED_MS: str(int(time.time() * 1000)),
            contract.RunTag.TURNS: str(conversation.turns),
            contract.RunTag.SAVE_TOKEN: conversation.save_token,
        }
        if conversation.title:
            tags[contract.RunTag.TITLE] = conversation.title[:250]
        self.client.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()])

    def save_pending(self, conversation: Conversation) -> int:
        """Write what this session holds and the store does not (after an outage): the run if there is none
        yet, the pictures that never reached the artifacts, then the state. Returns the turns written;
        ConversationConflict if another tab saved turns meanwhile (theirs stay, nothing of ours is written)."""
        pending = conversation.pending_turns
        if not pending:
            return 0
        if not conversation.id:
            run_id = self.create(conversation)
        else:
            run_id = conversation.id
            self.check_unchanged(conversation)
            if not conversation.pending_turns:  # our earlier save had landed
                return pending
        for image_id, record in conversation.image_lookup.items():
            png = conversation.images.get(image_id)
            if png and not record.get("artifact_path"):
                record["artifact_path"] = self.save_image(run_id, image_id, png)
        self.save(conversation)
        conversation.pending_turns = 0
        return pending

    def save_as_new(self, conversation: Conversation) -> int:
        """After a conflict: this session's version becomes a conversation of its own (pictures copied), so
        neither tab's turns are lost. Returns the turns written."""
        old = conversation.id
        lookup: ImageLookup = {}
        for image_id, record in conversation.image_lookup.items():
            if image_id not in conversation.images and old:
                if png := self.load_image(old, image_id):
                    conversation.images[image_id] = png
            lookup[image_id] = {**record, "artifact_path": None}
        conversation.image_lookup = lookup
        conversation.id, conversation.save_token = None, ""
        conversation.title = f"{conversation.title} (copy)".strip()
        conversation.pending_turns = conversation.turns
        return self.save_pending(conversation)

    def save_lookup(self, conversation: Conversation) -> None:
        if conversation.id:
            self.client.log_dict(conversation.id, conversation.image_lookup, contract.Artifact.IMAGE_LOOKUP)

    def recent(self, limit: int = 20, session_id: str | None = None, search: str = "") -> list[ConversationSummary]:
        """The conversations of this experiment (of one visitor session, if given; whose title or messages hold
        `search`, if given), most recently updated first."""
        only = (
            f" and tags.`{contract.RunTag.SESSION}` = '{session_id}'"
            if session_id and re.fullmatch(r"[A-Za-z0-9_-]{1,100}", session_id)
            else ""
        )
        words = re.sub(r"[^\w\s.,:!?-]", " ", search or "").strip()[:100]  # no quote can close the filter's string
        saved = f"tags.`{contract.RunTag.SCENARIO}` != '' and tags.`{contract.RunTag.TURNS}` != '0'{only}"
        order = [f"tags.`{contract.RunTag.UPDATED_MS}` DESC", "attributes.start_time DESC"]
        runs: list[Run]
        if not words:
            runs = list(self.client.search_runs([self.experiment_id], filter_string=saved, order_by=order, max_results=limit))
        else:
            titled = f"{saved} and tags.`{contract.RunTag.TITLE}` ILIKE '%{words}%'"
            runs = list(self.client.search_runs([self.experiment_id], filter_string=titled, order_by=order, max_results=limit))
            said = [i for i in self._said_in(words, limit) if i not in {r.info.run_id for r in runs}]
            if said:
                ids = ", ".join(f"'{i}'" for i in said)
                runs = [
                    *runs,
                    *self.client.search_runs(
                        [self.experiment_id], filter_string=f"{saved} and attributes.run_id IN ({ids})", max_results=limit
                    ),
                ]
        rows = [_summary(run) for run in runs]
        rows.sort(key=lambda r: r.updated_ms, reverse=True)
        return rows[:limit]

    def summaries(self, run_ids: Iterable[str], batch: int = 100) -> dict[str, ConversationSummary]:
        """The conversations among `run_ids` (title, session, when), by id; ids that are not a conversation of this
        experiment (malformed, deleted, a foreign run, the filler's made-up ids) are left out. One search per
        `batch` ids; StoreUnavailable when the store cannot be read."""
        wanted = list(dict.fromkeys(i for i in run_ids if is_valid_run_id(i)))  # hex only: safe in the filter
        found: dict[str, ConversationSummary] = {}
        for start in range(0, len(wanted), batch):
            ids = ", ".join(f"'{i}'" for i in wanted[start : start + batch])
            try:
                runs = self.client.search_runs(
                    [self.experiment_id],
                    max_results=batch,
                    filter_string=f"tags.`{contract.RunTag.SCENARIO}` != '' and attributes.run_id IN ({ids})",
                )
            except MlflowException as exc:
                raise StoreUnavailable(f"The MLflow store could not be read: {store.scrub(str(exc), self.tracking_uri)[:200]}") from exc
            found.update((run.info.run_id, _summary(run)) for run in runs)
        return found

    def _said_in(self, words: str, limit: int) -> list[str]:
        """Conversations whose turns said `words`: MLflow's own full-text trace search (`trace.text`, every span's
        inputs and outputs) in the database, newest turns first; a store without it finds titles only."""
        try:
            traces = self.client.search_traces(
                locations=[self.experiment_id],
                max_results=max(limit * 5, 50),
                include_spans=False,
                filter_string=f"trace.text ILIKE '%{words}%' and tags.`{contract.TraceTag.CONVERSATION}` != ''",
                order_by=["timestamp_ms DESC"],
            )
        except MlflowException:
            return []
        found = dict.fromkeys(t.info.tags.get(contract.TraceTag.CONVERSATION, "") for t in traces)
        return [i for i in found if is_valid_run_id(i)][:limit]

    def rename(self, run_id: str, title: str) -> str:
        """Give a conversation a title of the user's choosing (InputError when it is empty)."""
        title = " ".join((title or "").split())[:250]
        if not title:
            raise InputError("A conversation's name cannot be empty.")
        self.client.set_tag(run_id, contract.RunTag.TITLE, title)
        return title

    def delete(self, run_id: str) -> int:
        """Delete a conversation the MLflow way (the run goes to MLflow's deleted runs, where `mlflow gc` removes
        it for good) together with its turns' traces; returns how many traces went."""
        traces = self.client.search_traces(
            locations=[self.experiment_id], max_results=1000, filter_string=f"tags.`{contract.TraceTag.CONVERSATION}` = '{run_id}'"
        )
        removed = self.client.delete_traces(self.experiment_id, trace_ids=[t.info.trace_id for t in traces]) if traces else 0
        self.client.delete_run(run_id)
        return int(removed or 0)

    def load(self, run_id: str) -> Conversation:
        """Reopen a conversation by id, or raise ConversationError with a message for the user."""
        run_id = (run_id or "").strip()
        if not is_valid_run_id(run_id):
            raise ConversationError(f"“{run_id[:80]}” is not a conversation id (32 hexadecimal characters).")
        try:
            run = self.client.get_run(run_id)
        except MlflowException as exc:
            if store.is_not_found(exc):
                raise ConversationError(f"There is no conversation {run_id} in this MLflow store.") from exc
            raise StoreUnavailable(f"The MLflow store could not be read: {store.scrub(str(exc), self.tracking_uri)[:200]}") from exc
        tags = run.data.tags
        if contract.RunTag.SCENARIO not in tags or run.info.experiment_id != self.experiment_id:
            raise ConversationError(f"Run {run_id} exists but is not a conversation of this app.")
        if why := self.artifacts_problem():
            raise StoreUnavailable(why)
        transcript = self._read_json(run_id, contract.Artifact.TRANSCRIPT)
        if transcript is None and int(tags.get(contract.RunTag.TURNS, "0") or 0):  # saved turns, but no transcript to read
            raise StoreUnavailable(
                f"Conversation {run_id} has saved turns, but its transcript could not be read from "
                f"the artifact store ({store.scrub(str(run.info.artifact_uri), self.tracking_uri)[:120]})."
            )
        transcript = transcript or {}
        return Conversation(
            id=run_id,
            scenario=tags[contract.RunTag.SCENARIO],
            session_id=tags.get(contract.RunTag.SESSION, ""),
            provider=tags.get(contract.RunTag.PROVIDER, ""),
            title=tags.get(contract.RunTag.TITLE, ""),
            state=self._read_json(run_id, contract.Artifact.STATE),
            transcript=list(transcript.get("messages", [])),
            options=dict(transcript.get("options", {})),
            image_lookup=self._read_json(run_id, contract.Artifact.IMAGE_LOOKUP) or {},
            turns=int(tags.get(contract.RunTag.TURNS, "0") or 0),
            runtime=tags.get(contract.RunTag.RUNTIME, ""),
        )

    def state_after(self, run_id: str, turn: int) -> dict[str, Any] | None:
        """The team's state as saved after `turn`; None when it was not kept (turns saved before 2026-11-26)."""
        if not is_valid_run_id(run_id) or turn < 1:
            return None
        state = self._read_json(run_id, contract.state_after_path(turn))
        return state if isinstance(state, dict) else None

    def load_image(self, run_id: str, image_id: str) -> bytes | None:
        if not (is_valid_run_id(run_id) and is_valid_image_id(image_id)):
            return None
        with tempfile.TemporaryDirectory() as tmp:
            try:
                path = self.client.download_artifacts(run_id, contract.image_artifact_path(image_id), tmp)
            except Exception:  # noqa: BLE001 - a deleted artifact is shown as missing, not as a crash
                return None
            return Path(path).read_bytes()

    def _read_json(self, run_id: str, artifact_path: str) -> Any:
        with tempfile.TemporaryDirectory() as tmp:
            try:
                path = self.client.download_artifacts(run_id, artifact_path, tmp)
            except Exception:  # noqa: BLE001 - absent after a turn that never completed
                return None
            try:
                return json.loads(Path(path).read_text(encoding="utf-8"))
            except (ValueError, OSError):
                return None


def _summary(run: Run) -> ConversationSummary:
    tags = run.data.tags
    updated = int(tags.get(contract.RunTag.UPDATED_MS, "0") or 0) or int(run.info.start_time or 0)
    return ConversationSummary(
        id=run.info.run_id,
        scenario=tags.get(contract.RunTag.SCENARIO, ""),
        title=tags.get(contract.RunTag.TITLE, ""),
        turns=int(tags.get(contract.RunTag.TURNS, "0") or 0),
        updated_ms=updated,
        waiting=tags.get(contract.RunTag.WAITING) == "1",
        session=tags.get(contract.RunTag.SESSION, ""),
        variant=tags.get(contract.VariantTag.LABEL, ""),
    )


def _shorten(text: str, limit: int) -> str:
    """At most `limit` characters, cut at a word, with "…" when cut."""
    text = " ".join((text or "").split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    cut = cut.rsplit(" ", 1)[0] if " " in cut and text[limit - 1] != " " else cut
    return cut.rstrip(",.;:·- ") + "…"


def _run_name(scenario: str, title: str) -> str:
    words = re.sub(r"\s+", " ", title).strip()
    return f"{scenario}: {words[:60]}"
