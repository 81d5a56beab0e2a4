"""What the app's MLflow models accept as input: prompts in every shape MLflow and its agent interface send
(a string, a list, a DataFrame column, `{"input": [{"role": "user", "content": ...}]}`), shared by Catify's
model and a team file's model. Absolute imports only: MLflow runs the model files as scripts."""

from __future__ import annotations

import os
from typing import Any, Mapping

import mlflow
import pandas as pd
from mlflow.tracking.fluent import _get_experiment_id

from core.config import Settings
from core.conversations import models_experiment
from core.errors import ConfigError

MAX_PROMPTS = 20


class ModelInputError(ValueError):
    """An input or parameter the model cannot use; the message is for whoever called it."""


def trace_experiment() -> str | None:
    """Where a prediction is traced: the models experiment of MLflow's active experiment (contract.ExperimentTag.MODELS_OF; the
    active one itself when it is one, as the Models page and an evaluation set it), so a served model's answers are
    not counted as chat usage; None without a store (the prediction still runs, untraced)."""
    try:
        active = _get_experiment_id()
    except Exception:  # noqa: BLE001 - no store: untraced
        return None
    if active is None:
        return None
    try:
        return models_experiment(mlflow.MlflowClient(), mlflow.get_tracking_uri(), str(active))
    except Exception:  # noqa: BLE001 - an experiment that cannot be made must not fail the prediction: trace where asked
        return str(active)


def prompts_from(model_input: Any) -> list[str]:  # noqa: C901 - over the complexity limit when it came on (issue 28); split it when it next changes
    """Prompts from every input shape the model accepts, or ModelInputError naming what was wrong."""
    if isinstance(model_input, pd.DataFrame):
        if model_input.shape[1] == 0 or model_input.empty:
            raise ModelInputError('The input is empty: send a prompt, e.g. {"inputs": ["a cat in the snow"]}.')
        if list(model_input.columns) == ["role"]:  # a bare message list: the schema kept only its first key
            raise ModelInputError(
                'Send chat messages in the agent request shape: {"input": [{"role": "user", "content": "a cat"}]}, or plain prompt strings.'
            )
        if "content" in model_input.columns:  # chat messages, one per row: the last user message is the prompt
            messages = model_input.to_dict("records")
            values = [next((m.get("content") for m in reversed(messages) if m.get("role", "user") == "user"), None)]
        else:
            values = list(model_input["prompt" if "prompt" in model_input.columns else model_input.columns[0]])
    elif isinstance(model_input, str):
        values = [model_input]
    elif isinstance(model_input, dict):
        values = [model_input.get("input", model_input.get("prompt"))]
    else:
        try:
            values = list(model_input)
        except TypeError:
            raise ModelInputError(f"A {type(model_input).__name__} is not a prompt: send a string or a list of strings.") from None
    prompts = []
    for value in values:
        if isinstance(value, dict):  # one message of the agent interface's request
            value = value.get("content") if value.get("role", "user") == "user" else None
        if isinstance(value, list):  # a whole message list, or content parts: the last user text wins
            texts = [v.get("content") if isinstance(v, dict) else v for v in value]
            texts = [t if isinstance(t, str) else (t or [{}])[-1].get("text") if isinstance(t, list) else None for t in texts]
            value = next((t for t in reversed(texts) if isinstance(t, str) and t.strip()), None)
        if not isinstance(value, str) or not value.strip():
            raise ModelInputError(f"Every prompt must be non-empty text; got {str(value)[:80]!r}.")
        prompts.append(value.strip())
    if not prompts:
        raise ModelInputError('The input is empty: send a prompt, e.g. {"inputs": ["a cat in the snow"]}.')
    if len(prompts) > MAX_PROMPTS:
        raise ModelInputError(f"{len(prompts)} prompts in one request; the limit is {MAX_PROMPTS}.")
    return prompts


SETTING_PARAMS = ("base_url", "chat_model", "vision_model", "image_model", "image_size", "image_quality")


def settings_from_params(
    params: Mapping[str, Any] | None, defaults: Mapping[str, Any], env: Mapping[str, str] | None = None
) -> tuple[Settings, dict[str, Any]]:
    """Settings for a prediction: params choose the provider and models (never a key: the key comes from
    the serving environment's OPENAI_API_KEY), traces go to MLflow's tracking URI. Returns the settings and
    the params with the model's defaults filled in; ModelInputError names a bad or unknown param."""
    env = dict(os.environ if env is None else env)
    if any("key" in str(name).lower() for name in (params or {})):
        raise ModelInputError("Keys are never parameters: set OPENAI_API_KEY where the model is served.")
    merged = {**defaults, **{k: v for k, v in (params or {}).items() if v not in (None, "")}}
    unknown = set(merged) - set(defaults)
    if unknown:
        raise ModelInputError(f"Unknown parameter(s): {', '.join(sorted(unknown))}. Known: {', '.join(defaults)}.")
    try:
        base = Settings.for_provider(str(merged["provider"]))
    except ConfigError as exc:
        raise ModelInputError(str(exc)) from None
    changes = {k: str(merged[k]) for k in SETTING_PARAMS if merged.get(k)}
    settings = base.with_(api_key=env.get("OPENAI_API_KEY", ""), tracking_uri=mlflow.get_tracking_uri(), **changes)
    try:
        settings.validate()
    except ConfigError as exc:
        raise ModelInputError(str(exc)) from None
    return settings, merged
