"""Catify as an MLflow model from code, on a real sqlite store: log → register → alias → load by alias →
predict (demo provider) with pictures and lineage; the logged requirements; a real `mlflow models serve`
process on loopback; the errors a user meets, through the core, the CLI and the Models page."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid

import mlflow
import pytest
from conftest import ROOT
from streamlit.testing.v1 import AppTest

from core.config import Settings
from core.conversations import ConversationStore
from core.mlflow_model import registry
from scripts import catify_model as cli
from tests.net import free_port, wait_until_up

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def registered(tmp_path_factory):
    """A store of its own (the registry's model names are per store) with catify version 1 @champion."""
    uri = f"sqlite:///{tmp_path_factory.mktemp('registry') / 'mlflow.db'}"
    version = registry.log_catify(uri, "models", Settings(tracking_uri=uri), iterations=1)
    registry.set_alias(uri, "champion", version)
    return uri, version


def test_log_register_alias_load_and_predict_with_pictures_and_lineage(registered):
    uri, version = registered
    rows = registry.versions(uri)
    assert [(r.version, r.aliases, r.provider, r.iterations) for r in rows] == [(version, ("champion",), "demo", "1")]
    assert rows[0].user and rows[0].created_ms > 0
    experiment = mlflow.MlflowClient(uri).get_experiment_by_name("models").experiment_id
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(experiment_id=experiment)
    model = registry.load(uri, "models:/catify@champion")
    with mlflow.start_run() as run:  # pictures go to the active run, as in the seed's example
        results = registry.predict(model, ["a cat in the snow", "two dogs"], {"iterations": 2})
    assert [r["prompt"] for r in results] == ["a cat in the snow", "two dogs"]
    for result in results:
        assert len(result["images"]) == 3 and len(result["critiques"]) == 2
        assert all(base64.b64decode(i["png_base64"]).startswith(PNG) for i in result["images"])
        assert len(result["lineage"]["nodes"]) == 3 and len(result["lineage"]["edges"]) == 2
        assert result["final_prompt"] == result["images"][-1]["prompt"] != result["prompt"]
        assert [i["parent"] for i in result["images"]][1:] == [i["image_id"] for i in result["images"]][:-1]
    mlflow.flush_trace_async_logging()
    # in the models experiment of the active one (issue 32): predictions are not chat usage
    models = ConversationStore(uri, "models").models_experiment_id
    assert mlflow.MlflowClient(uri).search_traces(locations=[experiment]) == []
    traces = mlflow.MlflowClient(uri).search_traces(locations=[models])
    assert sorted(t.info.trace_id for t in traces) == sorted(r["trace_id"] for r in results), "one trace each"
    logged = {f.path for f in mlflow.MlflowClient(uri).list_artifacts(run.info.run_id, "images")}
    assert logged == {f"images/{i['image_id']}.png" for r in results for i in r["images"]}
    # the logged iterations are the default; a request may override them
    assert len(registry.predict(model, "one more cat")[0]["images"]) == 2
    by_run = registry.load(uri, f"runs:/{rows[0].run_id}/catify")  # the run that logged it, too
    assert len(registry.predict(by_run, "a run's cat", {"iterations": 1})[0]["images"]) == 2


def test_the_logged_model_is_code_with_the_products_pinned_requirements(registered, tmp_path):
    uri, version = registered
    local = mlflow.artifacts.download_artifacts(f"models:/catify/{version}", dst_path=str(tmp_path), tracking_uri=uri)
    files = {str(p.relative_to(local)) for p in __import__("pathlib").Path(local).rglob("*") if p.is_file()}
    assert "catify_model.py" in files and "code/core/agents.py" in files, "models from code, with the core"
    assert not any(f.endswith(".pkl") for f in files), "nothing pickled"
    requirements = (__import__("pathlib").Path(local) / "requirements.txt").read_text().split()
    pins = registry.pinned_requirements()
    assert {"pyautogen==0.10.0", "autogen-agentchat==0.7.5", "mlflow==3.17.2"} <= set(pins)
    assert set(pins) <= set(requirements)
    model_file = json.loads(json.dumps(mlflow.models.Model.load(local).to_dict()))
    assert "api_key" not in json.dumps(model_file) and "sk-" not in json.dumps(model_file)


@pytest.mark.parametrize(
    "model_uri, message",
    [
        ("models:/nope@champion", "does not exist"),
        ("models:/catify@nope", "does not exist"),
        ("models:/catify/99", "does not exist"),
        ("catify", "is not a model URI"),
    ],
)
def test_unknown_model_alias_or_version_is_a_sentence(registered, model_uri, message):
    with pytest.raises(registry.RegistryError, match=message):
        registry.load(registered[0], model_uri)


@pytest.mark.parametrize(
    "model_input, params, message",
    [
        ([""], None, "must be non-empty text"),
        ([{"role": "user", "content": "a cat"}], None, "agent request shape"),
        ({"input": [{"role": "user", "content": "  "}]}, None, "must be non-empty text"),
        (["a cat"], {"iterations": 99}, "between 1 and 6"),
        (["a cat"], {"provider": "openai"}, "needs an API key"),
        (["a cat"], {"image_format": "gif"}, "image_format"),
    ],
)
def test_bad_inputs_and_a_provider_without_key_are_sentences(registered, monkeypatch, model_input, params, message):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    model = registry.load(registered[0], "models:/catify@champion")
    with pytest.raises(registry.RegistryError, match=message):
        registry.predict(model, model_input, params)


def test_the_agent_interfaces_request_shape_is_accepted(registered):
    model = registry.load(registered[0], "models:/catify@champion")
    result = registry.predict(model, {"input": [{"role": "user", "content": "a cat on a roof"}]}, {"iterations": 1})
    assert result[0]["prompt"] == "a cat on a roof" and len(result[0]["images"]) == 2


def test_mlflow_models_serve_answers_invocations(registered):
    uri, _ = registered
    port = free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "MLFLOW_EXPERIMENT_NAME": "models", "DEMO_LATENCY_MS": "0"}
    env.pop("MLFLOW_EXPERIMENT_ID", None)  # mlflow.set_experiment exported an earlier test's: MLflow would prefer it
    env.pop("OPENAI_API_KEY", None)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "models",
            "serve",
            "-m",
            "models:/catify@champion",
            "--env-manager",
            "local",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        wait_until_up(f"{base}/ping", process, 90, lambda: process.stderr.read().decode()[-2000:])

        def post(payload: dict) -> tuple[int, dict]:
            request = urllib.request.Request(
                f"{base}/invocations", data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
            )
            try:
                with urllib.request.urlopen(request, timeout=60) as reply:
                    return reply.status, json.loads(reply.read())
            except urllib.error.HTTPError as error:
                return error.code, json.loads(error.read())

        status, body = post({"inputs": ["a cat in a box"], "params": {"iterations": 1}})
        assert status == 200
        prediction = body["predictions"][0]
        assert len(prediction["images"]) == 2 and base64.b64decode(prediction["images"][0]["png_base64"]).startswith(PNG)
        client = mlflow.MlflowClient(uri)
        while True:  # the served prediction is a trace in the experiment the server was given
            try:
                trace = client.get_trace(prediction["trace_id"])
                break
            except Exception:
                assert time.monotonic() < deadline + 30, "the served prediction left no trace"
                time.sleep(0.3)
        assert trace.info.experiment_id == ConversationStore(uri, "models").models_experiment_id  # issue 32
        assert trace.info.tags["app.scenario"] == "catify"
        status, body = post({"inputs": ["a cat"], "params": {"provider": "openai"}})
        assert status == 400 and "needs an API key" in body["message"] and "Traceback" not in body["message"]
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(20)


def test_cli_logs_lists_aliases_predicts_and_says_what_is_wrong(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "cli")
    assert cli.main(["log", "--iterations", "1", "--alias", "champion", "--instruction", "Add 12 kittens."]) == 0
    assert cli.main(["versions"]) == 0
    listed = capsys.readouterr().out
    assert "champion" in listed and "instruction='Add 12 kittens.'" in listed
    out_dir = tmp_path / "pictures"
    assert cli.main(["predict", "models:/catify@champion", "a cat", "--out", str(out_dir)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert len(printed["images"]) == 2 and len(list(out_dir.glob("*.png"))) == 2
    assert cli.main(["predict", "models:/catify@staging", "a cat"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Model models:/catify@staging does not exist") and "Traceback" not in err
    assert cli.main(["alias", "v1", "1"]) == 2


def test_models_page_logs_aliases_and_predicts(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", f"page-{uuid.uuid4().hex[:6]}")
    monkeypatch.delenv("APP_PROVIDER", raising=False)
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
    at.run()
    at.switch_page("pages/models.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("No version yet" in i.value for i in at.info)
    at.slider(key="model_iterations").set_value(1)
    at.button(key="log_model").click().run()
    assert any("Logged catify version 1" in s.value for s in at.success)
    at.text_input(key="alias_name").set_value("champion")
    at.button(key="set_alias").click().run()
    assert "champion" in at.dataframe[0].value["aliases"].iloc[0]
    at.selectbox(key="predict_uri").set_value("models:/catify@champion")
    at.text_input(key="predict_prompt").set_value("a <b>bold</b> cat")
    at.button(key="predict").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert len(at.get("image")) == 2  # 1 iteration: 2 pictures
    assert any(t.value.startswith("a <b>bold</b> cat") for t in at.text), "the prompt shows as text"
    # the prediction is a trace in the app's models experiment (issue 32), so the Traces page lists it as one
    mlflow.flush_trace_async_logging()
    client = mlflow.MlflowClient(os.environ["MLFLOW_TRACKING_URI"])
    experiment = ConversationStore(os.environ["MLFLOW_TRACKING_URI"], os.environ["MLFLOW_EXPERIMENT_NAME"]).models_experiment_id
    found = client.search_traces(locations=[experiment])
    assert [t.info.request_preview for t in found] == ["a <b>bold</b> cat"]


def test_a_hosted_visitors_predictions_are_held_to_the_chats_limits(registered, monkeypatch):
    """Models-page predictions count with the visitor's turns a minute and keep to the message length (issue 18):
    before, a visitor could predict without limit."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", registered[0])
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", f"page-{uuid.uuid4().hex[:6]}")
    monkeypatch.delenv("APP_PROVIDER", raising=False)
    monkeypatch.setenv("APP_HOSTED", "1")
    monkeypatch.setenv("APP_TURNS_PER_MINUTE", "2")
    monkeypatch.setenv("APP_HOSTED_MAX_MESSAGE_CHARS", "40")
    visitor = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
    visitor.run()
    visitor.switch_page("pages/models.py").run()
    assert visitor.text_input(key="predict_prompt").max_chars == 40
    visitor.session_state["predict_prompt"] = "a cat " * 20  # past the field, as a crafted request could
    visitor.button(key="predict").click().run()
    assert len(visitor.text_input(key="predict_prompt").value) == 40, "Streamlit holds the field to its limit"
    assert not visitor.error and len(visitor.get("image")) == 2
    visitor.button(key="predict").click().run()
    assert not visitor.error, [e.value for e in visitor.error]
    visitor.button(key="predict").click().run()
    assert any("turns a minute" in e.value for e in visitor.error), [e.value for e in visitor.error]
