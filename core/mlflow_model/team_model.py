"""A team as an MLflow model from code: this file is the python_model for a team file (docs/TEAMS.md) and for the
built-in scenarios other than Catify (Analyst & Summarizer, Weather). A team file travels with the version as its
artifact `team_file` and `model_config["team_key"]` says which of its teams (a Studio gallery holds several); a
built-in scenario is `model_config["scenario"]` with its options (`model_config["options"]`: system messages, the
report, the weather source). So a version runs the team it was logged with, whatever the teams folder holds
later, and `mlflow models serve` serves it like Catify.

Input: prompts in any shape `core.mlflow_model.inputs.prompts_from` takes. Params: `provider`, `base_url`,
`chat_model` (never a key: the serving environment's OPENAI_API_KEY) and a built-in scenario's options, each
defaulting to what the version was logged with. Output, one per prompt: `prompt`,
`answer` (the team's last message), `messages` (every message and tool call, as the chat shows them),
`status` (`ok`, or `waiting` when the team handed over to the user), `cost_usd` and `trace_id`. A built-in scenario
logged on another runtime (`model_config["runtime"]`: Agent Framework) runs its predictions there, and a team file
runs on the runtime it is for (a `create_workflow` file on Agent Framework: core.runtimes.team_sources)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.pyfunc import PythonModel

# absolute imports: MLflow runs this file as a script, with the logged copy of core/ on sys.path (code_paths)
from core import contract, scenarios
from core.conversations import Conversation
from core.mlflow_model.inputs import ModelInputError, prompts_from, settings_from_params, trace_experiment
from core.runtimes import team_sources
from core.turn import TurnHandle, TurnRequest

PARAM_DEFAULTS: dict[str, Any] = {"provider": "demo", "base_url": "", "chat_model": ""}
MODEL_SUFFIX = contract.TraceKind.MODEL_SCENARIO_SUFFIX  # predictions are traced as their own scenario: `team:<file>@model`


def _experiment_id() -> str | None:
    return trace_experiment()  # the models experiment (issue 32): a prediction is not chat usage


class TeamModel(PythonModel):
    """A user's team behind MLflow's pyfunc interface."""

    def load_context(self, context: Any) -> None:
        config = context.model_config or {}
        self.options: dict[str, Any] = dict(config.get("options") or {})
        self.runtime = str(config.get("runtime") or "")  # the agent runtime it was logged on (issue 34; before: AutoGen)
        if "team_file" not in (context.artifacts or {}):  # a built-in scenario
            scenario = scenarios.find(str(config.get("scenario", "")))
            if scenario is None:
                raise RuntimeError(f"This app has no scenario {config.get('scenario')!r} to run.")
            self.scenario = scenarios.register(replace(scenario, key=scenario.key + MODEL_SUFFIX, listed=False))
            return
        path = Path(context.artifacts["team_file"])
        wanted = (context.model_config or {}).get("team_key", "")
        found, _ = team_sources.read(path)  # by the runtime the file is for (a create_workflow file: Agent Framework)
        scenario = next((s for s in found if s.key == wanted), found[0] if found else None)
        if scenario is None:
            raise RuntimeError(f"The logged team file {path.name} holds no team this app can run.")
        # its own key, so a loaded version never takes the place of the chat page's team of the same file
        self.scenario = scenarios.register(replace(scenario, key=scenario.key + MODEL_SUFFIX, listed=False))

    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]  # no type hints: MLflow would read them as a schema
        try:
            prompts = prompts_from(model_input)
            settings, merged = settings_from_params(params, {**PARAM_DEFAULTS, **self.options})
        except ModelInputError as exc:  # a 400 with this message when served, not a traceback
            raise MlflowException(str(exc), error_code=INVALID_PARAMETER_VALUE) from None
        options = {key: merged[key] for key in self.options}
        return [self._predict_one(prompt, settings, options) for prompt in prompts]

    def _predict_one(self, prompt: str, settings: Any, options: dict[str, Any]) -> dict[str, Any]:
        conversation = Conversation(
            scenario=self.scenario.key,
            session_id=contract.TraceKind.PREDICTION_SESSION,
            provider=settings.provider,
            options=options,
            runtime=self.runtime,
        )
        # a turn on its own thread and event loop: predict may be called from a server's event loop
        outcome = TurnHandle(TurnRequest(conversation, prompt, settings, None, trace_experiment_id=_experiment_id())).start().wait()
        if outcome is None or outcome.status not in ("ok", "waiting"):
            raise RuntimeError(outcome.error if outcome is not None else "The prediction did not finish.")
        said = [e for e in outcome.entries if e.get("role") == "assistant"]
        return {
            "prompt": prompt,
            "answer": said[-1]["text"] if said else "",
            "status": outcome.status,
            "messages": [{"name": e.get("name", ""), "role": e.get("role", ""), "text": e.get("text", "")} for e in outcome.entries[1:]],
            "cost_usd": outcome.cost_usd,
            "trace_id": outcome.trace_id,
        }


mlflow.models.set_model(TeamModel())
