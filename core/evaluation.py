"""Champion / challenger: two or more versions (or aliases) of a team's registered model answer the same prompt set,
MLflow's own GenAI evaluation scores every answer, and the results say which version to promote.

How it runs, and why this way:
- One parent run (`app.kind` = evaluation) in the chats' models experiment (`<experiment> (models)`, issue 32: its
  answers are no chat usage; older evaluations stay in the chat experiment and are still listed), and under it one
  run per version. Each version is
  loaded from the registry (`models:/<name>/<version>`) and predicts every prompt itself, so each prediction is the
  app's own turn trace (agents, model calls, pictures, cost), in that version's run; Catify's pictures are that
  run's artifacts. `mlflow.genai.evaluate` then gets those traces with the outputs and the prompt's expectations:
  it links the traces to the run (MLflow's UI lists it as an evaluation run with its traces) and logs every score
  as an assessment on its trace. Why not `predict_fn`: the harness wants the prediction's trace on its own thread,
  while a turn runs on a thread and event loop of its own (core.turn); a wrapper trace would hold no spans. It
  would also call the model once more to check it traces.
- Scorers are `@scorer` functions that run offline. Every team: `no_error`, `ended_by_termination` (the team ended
  on its own termination, not on the app's guard or Stop: the turn span's status and stop reason), `cost_usd`,
  `latency_s`, `expectation` (the prompt's `contains` (any case) / `regex` / `min_cats`; none when the prompt has
  none). Catify also: `cats` (the demo critic's measure of the final picture's prompt, as many as it draws),
  `critic_format` (every critique kept `CRITICS:` / `PROMPT:`), `iterations_used`. An LLM judge (`make_judge`, yes/no)
  only with a real provider and OPENAI_API_KEY in the environment, where MLflow's judges read it (`judge_note` says
  why not otherwise).
- A version's score is the share of its pass/fail checks passed (no error, ended by termination, expectation,
  critic format); the winner has the highest score, then (Catify) more cats, then lower cost, then lower latency.
- The whole result is the parent run's artifact `evaluation/results.json`, so the Models page and the CLI read a past
  evaluation back without running it again."""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import mlflow
import pandas as pd
from mlflow.tracing.client import TracingClient

from . import contract, critique, redact
from .config import Settings
from .conversations import ConversationStore, find_models_experiment
from .demo import drawing
from .mlflow_model import registry
from .observe import export
from .prompt_sets import PromptRow, PromptSet
from .records import Asker, asked_by
from .runtimes.agentchat import team_files
from .scenarios.catify import KEY as CATIFY
from .store import fluent_lock

CHECKS = ("no_error", "ended_by_termination", "expectation", "critic_format")  # pass/fail: the score
LOWER_IS_BETTER = ("cost_usd", "latency_s")
METRICS = ("score", "cats", "cost_usd", "latency_s", "errors")  # what a version's totals can be compared on
GUARD_STOP = f"Maximum number of messages {team_files.MAX_MESSAGES_GUARD} reached"
DEMO_JUDGE_NOTE = (
    "LLM judge skipped: the demo provider has no model that can judge answers. Choose OpenAI or an "
    "OpenAI-compatible provider in the sidebar to add one."
)

NO_JUDGE_KEY_NOTE = (
    "LLM judge skipped: MLflow's judges read the key from OPENAI_API_KEY where the app runs, and "
    "none is set there (a key typed in the sidebar is not handed to them)."
)
JUDGE_INSTRUCTIONS = (
    "You judge an agent team's answer. The request: {{ inputs }}. The answer: {{ outputs }}. "
    "Does the answer do what the request asks, clearly and specifically? Answer true or false."
)


class EvaluationError(RuntimeError):
    """An evaluation that cannot run or be read; the message is for the user."""


@dataclass(frozen=True)
class RowResult:
    """One prompt answered by one version, with its scores (scorer name -> value; a scorer that did not apply is
    absent)."""

    prompt: str
    ref: str
    version: int
    scores: dict[str, Any]
    answer: str  # the team's answer; Catify: the final picture's prompt
    error: str
    cost_usd: float | None
    latency_s: float
    trace_id: str
    run_id: str
    pictures: tuple[dict[str, Any], ...] = ()  # Catify: index, prompt, artifact_path (in run_id)
    expectations: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> float | None:
        checks = [bool(self.scores[c]) for c in CHECKS if self.scores.get(c) is not None]
        return sum(checks) / len(checks) if checks else None


@dataclass(frozen=True)
class VersionTotals:
    ref: str
    version: int
    run_id: str
    prompts: int
    score: float  # the mean share of checks passed
    errors: int
    cost_usd: float | None  # the sum; None when a price was unknown
    latency_s: float  # the mean
    means: dict[str, float]  # every numeric or boolean scorer's mean

    @property
    def label(self) -> str:
        return f"{self.ref} (v{self.version})" if self.ref != str(self.version) else f"v{self.version}"

    def metric(self, name: str) -> float | None:
        """A totals figure by name: score, errors, cost_usd, latency_s, or a scorer's mean (cats, …)."""
        if name in ("score", "errors", "cost_usd", "latency_s"):
            return getattr(self, name)
        return self.means.get(name)


@dataclass(frozen=True)
class Evaluation:
    run_id: str  # the parent run
    model_name: str
    scenario: str
    prompt_set: str
    dataset_id: str
    rows: tuple[RowResult, ...]
    totals: tuple[VersionTotals, ...]  # in the order asked
    judge_note: str
    created_ms: int
    experiment_id: str = ""

    @property
    def winner(self) -> VersionTotals:
        catify = self.scenario == CATIFY

        def rank(t: VersionTotals) -> tuple:
            return (
                round(t.score, 6),
                (t.means.get("cats") or 0) if catify else 0,
                -(t.cost_usd if t.cost_usd is not None else float("inf")),
                -t.latency_s,
            )

        return max(self.totals, key=rank)

    def find(self, ref: str) -> VersionTotals:
        """A version's totals by the alias or version it was asked as (or its number)."""
        for t in self.totals:
            if ref in (t.ref, str(t.version), f"v{t.version}"):
                return t
        raise EvaluationError(f"“{ref}” was not part of this evaluation ({', '.join(t.label for t in self.totals)}).")

    def table(self) -> pd.DataFrame:
        """One line per prompt × version: the scores, cost and latency."""
        names = sorted({k for r in self.rows for k in r.scores if k not in ("cost_usd", "latency_s")}, key=lambda n: (n not in CHECKS, n))
        return pd.DataFrame(
            [
                {
                    "prompt": r.prompt,
                    "version": f"{r.ref} (v{r.version})" if r.ref != str(r.version) else f"v{r.version}",
                    **{n: r.scores.get(n) for n in names},
                    "passed": r.passed,
                    "cost_usd": r.cost_usd,
                    "latency_s": round(r.latency_s, 2),
                    "error": r.error,
                }
                for r in self.rows
            ]
        )

    def totals_table(self) -> pd.DataFrame:
        winner = self.winner
        return pd.DataFrame(
            [
                {
                    "version": t.label,
                    "score": round(t.score, 3),
                    **{k: round(v, 2) for k, v in t.means.items() if k not in ("cost_usd", "latency_s")},
                    "errors": t.errors,
                    "cost_usd": t.cost_usd,
                    "mean latency_s": round(t.latency_s, 2),
                    "winner": t is winner,  # a checkbox on the page: an emoji is a box without its font (issue 32)
                }
                for t in self.totals
            ]
        )

    def to_json(self) -> dict[str, Any]:
        return {"version": 1, **asdict(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Evaluation:
        rows = tuple(RowResult(**{**r, "pictures": tuple(r.get("pictures") or ())}) for r in data["rows"])
        totals = tuple(VersionTotals(**t) for t in data["totals"])
        fields = {k: v for k, v in data.items() if k not in ("version", "rows", "totals")}
        return cls(rows=rows, totals=totals, **fields)


# ---- scorers ---------------------------------------------------------------------------------------------------------


def _root_attribute(trace: Any, key: str) -> Any:
    root = next((s for s in (trace.data.spans if trace is not None else []) if s.parent_id is None), None)
    return root.get_attribute(key) if root is not None else None


def _no_error(outputs: Any) -> bool:
    return not (outputs or {}).get("error")


def _ended_by_termination(outputs: Any, trace: Any) -> bool:
    if (outputs or {}).get("error"):
        return False
    status = _root_attribute(trace, contract.TurnAttr.STATUS)
    reason = str(_root_attribute(trace, contract.TurnAttr.STOP_REASON) or "")
    return status in ("ok", "waiting") and GUARD_STOP not in reason and "External termination" not in reason


def _cost_usd(outputs: Any, trace: Any) -> float | None:
    cost = (outputs or {}).get("cost_usd")
    if cost is None and trace is not None and trace.info.cost:
        cost = trace.info.cost.get("total_cost")
    return None if cost is None else float(cost)


def _latency_s(trace: Any) -> float | None:
    duration = trace.info.execution_duration if trace is not None else None
    return None if duration is None else round(duration / 1000, 3)


def answer_text(outputs: Any) -> str:
    """What an expectation is checked against: the team's answer, or Catify's final prompt."""
    outputs = outputs or {}
    return str(outputs.get("answer", outputs.get("final_prompt", "")) or "")


def _cats(outputs: Any) -> int | None:
    if (outputs or {}).get("error"):
        return None
    return min(drawing.features(answer_text(outputs)).cats, drawing.MAX_DRAWN_CATS)


def _expectation(outputs: Any, expectations: Any) -> Any:
    from mlflow.entities import Feedback  # noqa: PLC0415 - runs inside mlflow.genai.evaluate only; keeps the chat's imports light

    expected = {k: v for k, v in (expectations or {}).items() if v not in (None, "")}
    if not expected:
        return None
    text, failed = answer_text(outputs), []
    if "contains" in expected and str(expected["contains"]).lower() not in text.lower():
        failed.append(f"does not contain “{expected['contains']}”")
    if "regex" in expected and not re.search(str(expected["regex"]), text):
        failed.append(f"does not match /{expected['regex']}/")
    if "min_cats" in expected:
        cats = _cats(outputs) or 0
        if cats < int(expected["min_cats"]):
            failed.append(f"has {cats} cats, fewer than {expected['min_cats']}")
    if (outputs or {}).get("error"):
        failed.append("the prediction failed")
    return Feedback(value=not failed, rationale="; ".join(failed) or "as expected: " + ", ".join(f"{k} {v}" for k, v in expected.items()))


def _critic_format(outputs: Any) -> bool | None:
    critiques = (outputs or {}).get("critiques")
    if not critiques:
        return None
    return all(re.search(r"^\s*CRITICS:", c, re.MULTILINE) and critique.parse(c).has_prompt for c in critiques)


def _iterations_used(outputs: Any) -> int | None:
    critiques = (outputs or {}).get("critiques")
    return None if critiques is None else len(critiques)


def scorers_for(scenario: str, settings: Settings | None) -> tuple[list[Any], str]:
    """The scorers for a team's evaluation, and a note about the LLM judge (why it is left out, or which model
    judges)."""
    from mlflow.genai.scorers import scorer  # noqa: PLC0415 - MLflow's GenAI package is heavy: imported when used

    chosen = [
        scorer(_no_error, name="no_error"),
        scorer(_ended_by_termination, name="ended_by_termination"),
        scorer(_cost_usd, name="cost_usd"),
        scorer(_latency_s, name="latency_s"),
        scorer(_expectation, name="expectation"),
    ]
    if scenario == CATIFY:
        chosen += [
            scorer(_cats, name="cats"),
            scorer(_critic_format, name="critic_format"),
            scorer(_iterations_used, name="iterations_used"),
        ]
    if settings is None or settings.provider == "demo":
        return chosen, DEMO_JUDGE_NOTE
    if not os.environ.get("OPENAI_API_KEY"):
        return chosen, NO_JUDGE_KEY_NOTE
    from mlflow.genai.judges import make_judge  # noqa: PLC0415 - mlflow.genai is slow to import and only an evaluation with a key needs it

    # MLflow posts to `base_url` itself when given: the chat completions address, not the API's root
    endpoint = settings.base_url.rstrip("/") + "/chat/completions" if settings.base_url else None
    chosen.append(
        make_judge(
            name="judge",
            instructions=JUDGE_INSTRUCTIONS,
            feedback_value_type=bool,
            model=f"openai:/{settings.chat_model}",
            base_url=endpoint,
        )
    )
    return chosen, f"LLM judge: {settings.chat_model} on {settings.provider} (MLflow's make_judge; yes/no)."


# ---- running an evaluation -------------------------------------------------------------------------------------------


def _prediction(model: Any, prompt: str, params: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The model's answer to one prompt (trimmed to what is scored and shown), or the failure as a sentence."""
    try:
        [out] = registry.predict(model, [prompt], params)
    except registry.RegistryError as exc:
        said = redact.scrub(str(exc))  # a provider's error may quote what it was sent: never into a trace or artifact
        return {"error": said}, said
    trimmed = {k: v for k, v in out.items() if k not in ("images", "lineage", "messages")}
    if "images" in out:
        trimmed["images"] = [
            {"index": i.get("index"), "prompt": i.get("prompt"), "artifact_path": i.get("artifact_path")} for i in out["images"]
        ]
    if "messages" in out:
        trimmed["messages"] = [{"name": m["name"], "role": m["role"], "text": m["text"][:2000]} for m in out["messages"]]
    return trimmed, ""


def _failed_trace(prompt: str, error: str, name: str) -> str:
    """A failed prediction still gets a trace of its own in the run, so its scores have a place to live."""
    with mlflow.start_span(name=f"{name} prediction") as span:
        mlflow.update_current_trace(tags={contract.TraceTag.KIND: contract.TraceKind.EVALUATION})
        span.set_inputs({"prompt": prompt})
        span.set_outputs({"error": error})
        span.set_status("ERROR")
        return span.trace_id


def evaluate(  # noqa: PLR0913 - over the argument limit when it came on (issue 28); issue 33 gathers these into records
    tracking_uri: str,
    experiment_name: str,
    model_name: str,
    refs: Iterable[str | int],
    prompt_set: PromptSet,
    settings: Settings | None = None,
    params: dict[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Evaluation:
    """Evaluate the versions named by `refs` (aliases or numbers, at least two) on `prompt_set`; see the module's
    docstring. `params` go to every prediction (e.g. the demo provider for a hosted visitor); a version's own
    logged settings are its defaults."""
    asked = [str(r).strip() for r in refs if str(r).strip()]
    if len(asked) < 2 or len(set(asked)) < len(asked):
        raise EvaluationError("Choose at least two different versions or aliases to compare.")
    if not prompt_set.rows:
        raise EvaluationError("The prompt set has no prompts.")
    try:
        candidates = [(ref, registry.resolve(tracking_uri, model_name, ref)) for ref in asked]
    except registry.RegistryError as exc:
        raise EvaluationError(str(exc)) from exc
    scenario = candidates[0][1].scenario or (CATIFY if model_name == registry.MODEL_NAME else "")
    scorers, judge_note = scorers_for(scenario, settings)
    params = {**(params or {}), **({"image_format": "artifact"} if scenario == CATIFY else {})}
    say = progress or (lambda text: None)
    # the chats' models experiment (issue 32): its answers are not chat usage, and its runs sit beside their traces
    experiment_id = ConversationStore.connect(tracking_uri, experiment_name).models_experiment_id
    from mlflow.genai import evaluate as genai_evaluate  # noqa: PLC0415 - mlflow.genai is slow to import and only an evaluation needs it

    rows: list[RowResult] = []
    totals: list[VersionTotals] = []
    # each answer's trace is an evaluation's (contract.TraceTag.KIND), not a prediction someone asked for
    answering = Asker(kind=contract.TraceKind.EVALUATION, defuse_markup=settings is not None and settings.hosted is not None)
    with fluent_lock, asked_by(answering):
        mlflow.set_tracking_uri(tracking_uri)
        mlflow.set_experiment(experiment_id=experiment_id)
        names = " vs ".join(asked)
        with mlflow.start_run(experiment_id=experiment_id, run_name=f"evaluate {model_name}: {names}") as parent:
            mlflow.set_tags({contract.RunTag.KIND: contract.RunKind.EVALUATION, contract.RunTag.MODEL_NAME: model_name, contract.RunTag.SCENARIO: scenario})
            for ref, version in candidates:
                say(f"{ref}: loading version {version.version}")
                model = registry.load(tracking_uri, f"models:/{model_name}/{version.version}")
                with mlflow.start_run(experiment_id=experiment_id, nested=True, run_name=f"{model_name} {ref} (v{version.version})") as run:
                    mlflow.set_tags(
                        {
                            contract.RunTag.EVALUATION: parent.info.run_id,
                            contract.RunTag.MODEL_NAME: model_name,
                            contract.RunTag.MODEL_VERSION: str(version.version),
                            contract.RunTag.MODEL_REF: ref,
                        }
                    )
                    version_rows = _run_version(
                        model,
                        model_name,
                        ref,
                        version.version,
                        run.info.run_id,
                        prompt_set.rows,
                        params,
                        scorers,
                        genai_evaluate,
                        say,
                        version.model_id,
                    )
                rows += version_rows
                totals.append(_totals(ref, version.version, run.info.run_id, version_rows))
            evaluation = Evaluation(
                parent.info.run_id,
                model_name,
                scenario,
                prompt_set.name,
                prompt_set.dataset_id,
                tuple(rows),
                tuple(totals),
                judge_note,
                int(time.time() * 1000),
                experiment_id,
            )
            mlflow.log_dict(evaluation.to_json(), contract.Artifact.EVALUATION_RESULTS)
            for t in totals:
                mlflow.log_metric(f"score_v{t.version}", t.score)
    return evaluation


def _run_version(  # noqa: PLR0913 - over the argument limit when it came on (issue 28); issue 33 gathers these into records
    model: Any,
    model_name: str,
    ref: str,
    version: int,
    run_id: str,
    prompts: tuple[PromptRow, ...],
    params: dict[str, Any],
    scorers: list[Any],
    genai_evaluate: Any,
    say: Callable[[str], None],
    model_id: str,
) -> list[RowResult]:
    """One version's predictions in its run, then MLflow's evaluation of their traces."""
    data, meta = [], []
    for number, row in enumerate(prompts, 1):
        say(f"{ref}: prompt {number} of {len(prompts)}")
        started = time.monotonic()
        outputs, error = _prediction(model, row.prompt, params)
        seconds = time.monotonic() - started
        trace_id = outputs.get("trace_id") or _failed_trace(row.prompt, error, model_name)
        meta.append((row, outputs, error, seconds, trace_id))
    client = mlflow.MlflowClient()
    for row, outputs, error, _seconds, trace_id in meta:
        trace = _stored_trace(client, trace_id, turn=not error)
        data.append({"trace": trace, "inputs": {"prompt": row.prompt}, "outputs": outputs, "expectations": row.expectations()})
    say(f"{ref}: scoring")
    with contextlib.redirect_stdout(sys.stderr):  # MLflow prints where to look; a CLI's stdout is its table
        result = genai_evaluate(data=pd.DataFrame(data), scorers=scorers, model_id=model_id or None)
    scores = _scores_by_trace(result)
    found = []
    for row, outputs, error, seconds, trace_id in meta:
        values = scores.get(trace_id, {})
        latency = values.get("latency_s")
        found.append(
            RowResult(
                prompt=row.prompt,
                ref=ref,
                version=version,
                scores=values,
                answer=answer_text(outputs)[:2000],
                error=error,
                cost_usd=values.get("cost_usd", outputs.get("cost_usd")),
                latency_s=float(latency if latency is not None else seconds),
                trace_id=trace_id,
                run_id=run_id,
                expectations=row.expectations(),
                pictures=tuple(outputs.get("images") or ()),
            )
        )
    return found


def _stored_trace(client: Any, trace_id: str, turn: bool) -> Any:
    """The prediction's trace once the store has all of it (its export is asynchronous). Polled, not flushed: a
    flush of MLflow's export queue waits out its consumer's 1 s poll, ~2 s a prediction."""
    complete = export.wait_for_trace(client.tracking_uri, trace_id) if turn else _ended(client, trace_id)
    if not complete:
        raise EvaluationError(f"The prediction's trace {trace_id} did not reach the store within 30 s.")
    return client.get_trace(trace_id)


def _ended(client: Any, trace_id: str, timeout_s: float = 30.0) -> bool:
    """A trace of ours without a turn (a failed prediction's) is complete once the store has its end state."""
    store, deadline = TracingClient(client.tracking_uri).store, time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if str(getattr(store.get_trace_info(trace_id).state, "value", "")) in ("OK", "ERROR"):
                return True
        except Exception:  # noqa: BLE001 - not written yet
            pass
        time.sleep(0.02)
    return False


def _scores_by_trace(result: Any) -> dict[str, dict[str, Any]]:
    """Every assessment MLflow's evaluation logged, per trace: name -> value (errors left out)."""
    scores: dict[str, dict[str, Any]] = {}
    for _, line in result.result_df.iterrows():
        trace = line.get("trace")
        trace_id = getattr(getattr(trace, "info", None), "trace_id", None) or line.get("trace_id")
        found = scores.setdefault(str(trace_id), {})
        for assessment in line.get("assessments") or []:
            feedback = getattr(assessment, "feedback", None)
            if isinstance(assessment, dict):  # the result frame holds assessments as dicts
                feedback = assessment.get("feedback")
                value = (feedback or {}).get("value")
                error = (feedback or {}).get("error")
                name = assessment.get("assessment_name") or assessment.get("name")
            else:
                value, error, name = getattr(feedback, "value", None), getattr(feedback, "error", None), assessment.name
            if feedback is not None and not error:
                found[str(name)] = value
    return scores


def _totals(ref: str, version: int, run_id: str, rows: list[RowResult]) -> VersionTotals:
    passed = [r.passed for r in rows if r.passed is not None]
    numeric: dict[str, list[float]] = {}
    for r in rows:
        for name, value in r.scores.items():
            if isinstance(value, (bool, int, float)) and not isinstance(value, str):
                numeric.setdefault(name, []).append(float(value))
    costs = [r.cost_usd for r in rows]
    return VersionTotals(
        ref,
        version,
        run_id,
        len(rows),
        sum(passed) / len(passed) if passed else 0.0,
        sum(1 for r in rows if r.error),
        None if any(c is None for c in costs) else round(sum(c for c in costs if c is not None), 6),
        sum(r.latency_s for r in rows) / len(rows) if rows else 0.0,
        {k: sum(v) / len(v) for k, v in numeric.items()},
    )


# ---- reading back and comparing --------------------------------------------------------------------------------------


def load(tracking_uri: str, run_id: str) -> Evaluation:
    """A past evaluation from its parent run's artifact."""
    try:
        return Evaluation.from_json(json.loads(_download(tracking_uri, run_id)))
    except EvaluationError:
        raise
    except Exception as exc:
        raise EvaluationError(f"Evaluation {run_id[:40]} could not be read: {str(exc).splitlines()[0][:200]}") from exc


def _download(tracking_uri: str, run_id: str) -> str:
    with tempfile.TemporaryDirectory() as folder:
        path = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path=contract.Artifact.EVALUATION_RESULTS, dst_path=folder, tracking_uri=tracking_uri
        )
        return Path(path).read_text(encoding="utf-8")


@dataclass(frozen=True)
class PastEvaluation:
    run_id: str
    name: str
    started_ms: int


def past(tracking_uri: str, experiment_id: str, model_name: str, limit: int = 20) -> list[PastEvaluation]:
    """The model's evaluations of the chats in `experiment_id`, newest first: in its models experiment (issue 32) and,
    made before it, in the chat experiment itself."""
    try:
        client = mlflow.MlflowClient(tracking_uri)
        models = find_models_experiment(client, str(experiment_id))
        runs = client.search_runs(
            [str(experiment_id), *([models] if models else [])],
            max_results=limit,
            order_by=["attributes.start_time DESC"],
            filter_string=f"tags.`{contract.RunTag.KIND}` = '{contract.RunKind.EVALUATION}' AND tags.`{contract.RunTag.MODEL_NAME}` = '{model_name}'",
        )
    except Exception as exc:
        raise EvaluationError(f"Past evaluations could not be listed: {str(exc).splitlines()[0][:200]}") from exc
    return [PastEvaluation(r.info.run_id, r.info.run_name or r.info.run_id, int(r.info.start_time or 0)) for r in runs]


@dataclass(frozen=True)
class Verdict:
    """The challenger against the champion on one metric: worse by more than the margin, or not."""

    metric: str
    champion: float
    challenger: float
    margin: float
    worse: bool

    def sentence(self, champion: str, challenger: str) -> str:
        direction = "lower" if self.metric in LOWER_IS_BETTER or self.metric == "errors" else "higher"
        verdict = "worse than" if self.worse else "not worse than"
        return (
            f"{challenger} is {verdict} {champion} on {self.metric} ({direction} is better): "
            f"{self.challenger:.4g} vs {self.champion:.4g}, margin {self.margin:g}."
        )


def compare(evaluation: Evaluation, champion: str, challenger: str, metric: str = "score", margin: float = 0.0) -> Verdict:
    """Is the challenger worse than the champion by more than `margin` (in the metric's own unit)?"""
    if margin < 0:
        raise EvaluationError("The margin cannot be negative.")
    a, b = evaluation.find(champion), evaluation.find(challenger)
    first, second = a.metric(metric), b.metric(metric)
    if first is None or second is None:
        raise EvaluationError(
            f"No {metric} for {a.label if first is None else b.label}: compare on "
            f"{', '.join(sorted({'score', 'errors', 'cost_usd', 'latency_s', *a.means}))}."
        )
    lower_better = metric in LOWER_IS_BETTER or metric == "errors"
    worse = second > first + margin if lower_better else second < first - margin
    return Verdict(metric, float(first), float(second), margin, worse)


def promote(tracking_uri: str, evaluation: Evaluation, alias: str, who: str, ref: str | None = None) -> tuple[int, str]:
    """Move `alias` to the winner (or to the version asked as `ref`); returns the version and the registry's record
    of who and when."""
    chosen = evaluation.find(ref) if ref else evaluation.winner
    try:
        record = registry.promote(tracking_uri, evaluation.model_name, alias, chosen.version, who)
    except registry.RegistryError as exc:
        raise EvaluationError(str(exc)) from exc
    return chosen.version, record
