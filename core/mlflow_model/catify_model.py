"""Catify as an MLflow model from code: this file is what `mlflow.pyfunc.log_model(python_model=<this file>)`
records (no pickling); loading the model runs it again and `set_model` hands MLflow the model.

Why a plain `PythonModel` and not MLflow's `ResponsesAgent`: a Catify prediction's result is pictures, their
critiques and their lineage, not a chat reply. The agent interface would squeeze pictures into text
messages; a pyfunc returns them as data, serves with `mlflow models serve` like any model, and still
accepts the agent interface's request shape (`{"input": [{"role": "user", "content": ...}]}`).

Input: a prompt string, a list of them, a DataFrame whose first column holds them, or that request shape.
Params: `iterations`, `instruction` (the critic's) and provider settings without secrets (`provider`, `base_url`, `chat_model`,
`vision_model`, `image_model`, `image_size`, `image_quality`); the key comes from the serving
environment (`OPENAI_API_KEY`), never from the request or the logged model. Output, one per prompt:
`prompt`, `final_prompt`, `critiques`, `images` (each with its id, prompt, parent, critique, price and the
PNG as base64 (`image_format="base64"`, the default) or only its artifact path (`"artifact"`)),
`lineage` (nodes and critique edges), `cost_usd` and `trace_id`. Each prompt is one trace in the active
experiment; with an active run, the pictures and `image_lookup.json` are logged to it, as the seed's
`log_image_during_inference` does."""

from __future__ import annotations

import base64
import dataclasses
import io
from typing import Any

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.pyfunc import PythonModel
from PIL import Image

# absolute imports: MLflow runs this file as a script, with the logged copy of core/ on sys.path (code_paths)
from core import contract
from core.config import Settings
from core.conversations import Conversation
from core.mlflow_model.inputs import ModelInputError, prompts_from, settings_from_params, trace_experiment
from core.reading import lineage
from core.scenarios.catify import CRITIC, DEFAULT_CRITIC_INSTRUCTION, DEFAULT_ITERATIONS, MAX_ITERATIONS
from core.scenarios.catify import KEY as CATIFY
from core.turn import TurnHandle, TurnRequest

PARAM_DEFAULTS: dict[str, Any] = {
    "iterations": DEFAULT_ITERATIONS,
    "instruction": DEFAULT_CRITIC_INSTRUCTION,
    "provider": "demo",
    "base_url": "",
    "chat_model": "",
    "vision_model": "",
    "image_model": "",
    "image_size": "",
    "image_quality": "",
    "image_format": "base64",
}


CatifyInputError = ModelInputError  # the name this module's callers know
MAX_INSTRUCTION_CHARS = 2000


def settings_from(params: dict[str, Any] | None, env: dict[str, str] | None = None) -> tuple[Settings, int, str, str]:
    """Settings for a prediction: params for models and provider, the environment for the key and store; the
    iterations, the critic's instruction and the picture format."""
    settings, params = settings_from_params(params, PARAM_DEFAULTS, env)
    try:
        iterations = int(params["iterations"])
    except (TypeError, ValueError):
        raise CatifyInputError(f"iterations must be a whole number, not {params['iterations']!r}.") from None
    if not 1 <= iterations <= MAX_ITERATIONS:
        raise CatifyInputError(f"iterations must be between 1 and {MAX_ITERATIONS}, not {iterations}.")
    if params["image_format"] not in ("base64", "artifact"):
        raise CatifyInputError("image_format is 'base64' or 'artifact'.")
    instruction = str(params["instruction"]).strip()
    if len(instruction) > MAX_INSTRUCTION_CHARS:
        raise CatifyInputError(f"The critic instruction has {len(instruction):,} characters; the limit is {MAX_INSTRUCTION_CHARS:,}.")
    return settings, iterations, instruction or DEFAULT_CRITIC_INSTRUCTION, str(params["image_format"])


def _experiment_id() -> str | None:
    return trace_experiment()  # the models experiment (issue 32): a prediction is not chat usage


def predict_one(
    prompt: str, settings: Any, iterations: int, image_format: str, instruction: str = DEFAULT_CRITIC_INSTRUCTION
) -> dict[str, Any]:
    conversation = Conversation(
        scenario=CATIFY,
        session_id=contract.TraceKind.PREDICTION_SESSION,
        provider=settings.provider,
        options={"iterations": iterations, "instruction": instruction},
    )
    # a turn on its own thread and event loop: predict may be called from a server's event loop
    outcome = TurnHandle(TurnRequest(conversation, prompt, settings, None, trace_experiment_id=_experiment_id())).start().wait()
    if outcome is None or outcome.status != "ok":
        raise RuntimeError(outcome.error if outcome is not None else "The prediction did not finish.")
    done = outcome.conversation
    run = mlflow.active_run()
    artifact_paths = _log_to_run(run.info.run_id, done) if run is not None else {}
    images = []
    for image_id, entry in sorted(done.image_lookup.items(), key=lambda kv: kv[1].get("index", 0)):
        png = done.images.get(image_id)
        images.append(
            {
                "image_id": image_id,
                "index": entry.get("index"),
                "prompt": entry.get("prompt"),
                "parent": entry.get("parent"),
                "critique": entry.get("critique"),
                "model": entry.get("model"),
                "size": entry.get("size"),
                "quality": entry.get("quality"),
                "cost_usd": entry.get("cost_usd"),
                "artifact_path": artifact_paths.get(image_id),
                "png_base64": base64.b64encode(png).decode() if png and image_format == "base64" else None,
            }
        )
    graph = lineage.build(done.image_lookup)
    critiques = [e["text"] for e in outcome.entries if e.get("name") == CRITIC]
    return {
        "prompt": prompt,
        "final_prompt": images[-1]["prompt"] if images else prompt,
        "critiques": critiques,
        "images": images,
        "lineage": {"nodes": [dataclasses.asdict(n) for n in graph.nodes], "edges": [dataclasses.asdict(e) for e in graph.edges]},
        "cost_usd": graph.total_cost_usd,
        "trace_id": outcome.trace_id,
    }


def _log_to_run(run_id: str, conversation: Any) -> dict[str, str]:
    """The pictures and their lineage into the active run (images/<id>.png, image_lookup.json)."""
    client = mlflow.MlflowClient()
    paths = {}
    for image_id, png in conversation.images.items():
        path = contract.image_artifact_path(image_id)
        client.log_image(run_id, Image.open(io.BytesIO(png)), artifact_file=path)
        paths[image_id] = path
    lookup = {k: {**v, "artifact_path": paths.get(k)} for k, v in conversation.image_lookup.items()}
    client.log_dict(run_id, lookup, contract.Artifact.IMAGE_LOOKUP)
    return paths


class CatifyModel(PythonModel):
    """The Catify team behind MLflow's pyfunc interface."""

    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]  # no type hints: MLflow would read them as a schema
        try:
            prompts = prompts_from(model_input)
            settings, iterations, instruction, image_format = settings_from(params)
        except CatifyInputError as exc:  # a 400 with this message when served, not a traceback
            raise MlflowException(str(exc), error_code=INVALID_PARAMETER_VALUE) from None
        return [predict_one(prompt, settings, iterations, image_format, instruction) for prompt in prompts]


mlflow.models.set_model(CatifyModel())
