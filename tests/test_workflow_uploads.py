"""An Agent Framework team file (`create_workflow(models)`) brought in through the chat's upload box and logged as a
model, as an agentchat team file is (issue 34, items 3 and 6; core.runtimes.team_sources): the upload is read by the
runtime whose factory the file defines, becomes a scenario on Agent Framework locked to it, runs a turn on the demo
provider traced with the runtime tag; a file that cannot be used is refused with its sentence and nothing is lost;
logged as a model, its version carries the file and predicts on Agent Framework."""

from __future__ import annotations

import re

import mlflow
import pytest

from core import contract, scenarios
from core.config import Settings
from core.errors import InputError
from core.mlflow_model import registry
from core.observe import export
from core.runtimes import team_code, team_sources
from tests.pages import open_app, open_models_page, send
from tests.test_workflow_factories import GOOD

# what each unusable file is, and the sentence the page says for it (the file's name as it would have been kept)
BAD = {
    "syntax": ("def create_workflow(models):\n    return (\n", "“syntax.py” has a syntax error on line"),
    "nofactory": (
        "def build(models):\n    pass\n",
        "“nofactory.py” has no create_team(models) function; a Python team file defines one that returns an agentchat "
        "team, or a create_workflow(models) function",
    ),
    "raises": (
        "def create_workflow(models):\n    raise ValueError('no key in the file')\n",
        "create_workflow() in “raises.py” raised ValueError (line 2): no key in the file",
    ),
    "both": (
        "def create_team(models):\n    raise SystemExit('run')\n\ndef create_workflow(models):\n    raise SystemExit('run')\n",
        "“both.py” defines both create_team(models) and create_workflow(models); a team file is for one runtime",
    ),
}


@pytest.fixture()
def folders(tmp_path, monkeypatch, tracking_uri, experiment_name):
    """A teams folder and an uploads folder of this test's own, the app on this store with the demo provider."""
    (tmp_path / "teams").mkdir()
    monkeypatch.setenv("APP_TEAMS_DIR", str(tmp_path / "teams"))
    monkeypatch.setenv("APP_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", experiment_name)
    for name in ("OPENAI_API_KEY", "APP_PROVIDER", "APP_HOSTED", "APP_HOSTED_TEAMS"):
        monkeypatch.delenv(name, raising=False)
    scenarios.rescan()
    yield tmp_path
    for name in ("APP_TEAMS_DIR", "APP_DATA_DIR", "APP_HOSTED", "APP_HOSTED_TEAMS"):
        monkeypatch.delenv(name, raising=False)
    for scenario in scenarios.all_scenarios():  # a loaded model registers its team's scenario: not for the next test
        if scenario.key.endswith(contract.TraceKind.MODEL_SCENARIO_SUFFIX):
            scenarios.unregister(scenario.key)
    scenarios.rescan()


def kept(folders) -> list[str]:
    uploads = folders / "data" / "teams"
    return sorted(p.name for p in uploads.iterdir()) if uploads.is_dir() else []


def upload(at, name: str, source: str):
    """What a person does in the sidebar's "Bring your own team": pick a file (its on_change adds it)."""
    at.sidebar.file_uploader(key="team_upload").set_value((name, source.encode(), "text/x-python")).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def said(elements) -> list[str]:
    return [e.value.replace("\\", "") for e in elements]  # the page's texts are escaped markdown


def test_an_uploaded_workflow_file_runs_a_turn_on_agent_framework_on_the_demo(folders, mlflow_client):
    at = upload(open_app(), "Adder desk.py", GOOD)
    assert said(at.success) == ["Added “Adder desk” to the Scenario picker (kept in the app's uploads folder)."]
    assert kept(folders) == ["adder_desk.py"], "kept in the uploads folder as it was"
    picker = next(s for s in at.selectbox if s.label == "Scenario")
    assert picker.value == "team:adder_desk"
    (runtime,) = [s for s in at.sidebar.selectbox if s.label == "Runtime"]
    assert (runtime.value, runtime.disabled) == ("agentframework", True), "shown on Agent Framework, locked"
    assert any(
        c.startswith("Team file adder_desk.py · asks for gpt-4.1-mini, runs on demo-chat") and "runs on Agent Framework" in c
        for c in said(at.caption)
    )

    send(at, "2.5 plus 4")
    assert [m.name for m in at.chat_message] == ["user", "tool", "adder", "checker"]
    assert [c.value for m in at.chat_message if m.name == "tool" for c in m.code] == ["add(a=2.5, b=4.0) → 6.5"]
    run_id = at.query_params["conversation"]
    assert mlflow_client.get_run(run_id).data.tags[contract.RunTag.RUNTIME] == "agentframework"
    export.flush()
    (trace,) = mlflow_client.search_traces(
        locations=[mlflow_client.get_run(run_id).info.experiment_id], filter_string=f"tags.`{contract.TraceTag.CONVERSATION}` = '{run_id}'"
    )
    assert trace.info.tags[contract.RunTag.RUNTIME] == "agentframework"
    assert trace.info.tags[contract.RunTag.SCENARIO] == "team:adder_desk"
    assert {s.name for s in trace.data.spans} >= {"adder", "checker", "add"}, [s.name for s in trace.data.spans]


def test_unusable_workflow_uploads_are_said_and_lose_nothing(folders, mlflow_client):
    at = send(upload(open_app(), "adder.py", GOOD), "2.5 plus 4")
    run_id = at.query_params["conversation"]
    before = [m.name for m in at.chat_message]
    for stem, (source, sentence) in BAD.items():
        upload(at, f"{stem}.py", source)
        assert any(sentence in text for text in said(at.error)), (stem, said(at.error))
        assert kept(folders) == ["adder.py"], f"{stem}: nothing left behind"
        assert at.query_params["conversation"] == run_id and [m.name for m in at.chat_message] == before, f"{stem}: the conversation stays"
        assert next(s for s in at.selectbox if s.label == "Scenario").value == "team:adder"
    assert mlflow_client.get_run(run_id).data.tags[contract.RunTag.TURNS] == "1"


def test_the_upload_reads_a_file_by_its_factory_with_agentchats_checks(folders, monkeypatch):
    assert team_sources.add_upload("Adder.py", GOOD.encode()) == (["team:adder"], [])
    scenarios.rescan()
    assert scenarios.get("team:adder").runtime == "agentframework"
    assert team_sources.add_upload("Adder.py", GOOD.encode()) == (["team:adder"], []), "the same file again: no copy"
    for stem, (source, sentence) in BAD.items():
        with pytest.raises(InputError, match=re.escape(sentence)):
            team_sources.add_upload(f"{stem}.py", source.encode())
    with pytest.raises(InputError, match="up to 1 MB"):
        team_sources.add_upload("big.py", b"#" * (team_code.MAX_FILE_BYTES + 1))
    with pytest.raises(InputError, match=re.escape("or a create_workflow(models) function (Agent Framework)")):
        team_sources.add_upload("notes.txt", b"hello")
    assert kept(folders) == ["adder.py"], "a refused upload leaves nothing behind"

    (folders / "teams" / "both.py").write_text(BAD["both"][0])  # the same rule in the teams folder
    scenarios.rescan()
    assert scenarios.find("team:both") is None
    assert any(BAD["both"][1] in p for p in scenarios.load_problems())

    (folders / "teams" / "both.py").unlink()
    (folders / "teams" / "desk.py").write_text(GOOD)
    assert team_sources.add_upload("adder2.py", GOOD.replace("Adder desk", "Uploaded desk").encode()) == (["team:adder2"], [])
    monkeypatch.setenv("APP_HOSTED", "1")
    monkeypatch.setenv("APP_HOSTED_TEAMS", "desk.py")
    scenarios.rescan()
    assert scenarios.find("team:desk") is not None and scenarios.find("team:adder2") is None, "a hosted demo reads no upload"


def test_a_workflow_file_is_logged_as_a_model_loaded_back_and_predicts_on_agent_framework(folders, tracking_uri, experiment_name, store):
    (folders / "teams" / "adder.py").write_text(GOOD)
    scenarios.rescan()
    name, version = registry.log_team(tracking_uri, experiment_name, Settings(), "team:adder")
    assert (name, version) == ("team-adder", 1)
    assert mlflow.MlflowClient(tracking_uri).get_model_version(name, "1").tags[contract.RunTag.RUNTIME] == "agentframework"
    (folders / "teams" / "adder.py").unlink()  # the version carries its own copy of the file
    scenarios.rescan()
    model = registry.load(tracking_uri, f"models:/{name}/{version}")
    [result] = registry.predict(model, ["2.5 plus 4"], {}, experiment_id=store.experiment_id)
    assert result["status"] == "ok"
    assert [m["text"] for m in result["messages"] if m["role"] == "tool"] == ["add(a=2.5, b=4.0) → 6.5"]
    assert [m["name"] for m in result["messages"] if m["role"] == "assistant"] == ["adder", "checker"]
    export.flush()
    trace = store.client.get_trace(result["trace_id"])
    assert trace.info.tags[contract.RunTag.RUNTIME] == "agentframework", "the prediction ran on Agent Framework"
    assert trace.info.tags[contract.RunTag.SCENARIO] == "team:adder@model"
    assert scenarios.find("team:adder") is None, "loading a version does not bring a removed file back to the chat page"


def test_the_models_page_logs_a_workflow_file_on_agent_framework(folders, tracking_uri, experiment_name, monkeypatch):
    (folders / "teams" / "sum_desk.py").write_text(GOOD)
    scenarios.rescan()
    at = open_models_page(monkeypatch, tracking_uri, experiment_name)
    at.selectbox(key="model_team").set_value("team:sum_desk").run()
    assert any(
        "registered as `team-sum_desk`; it runs on Agent Framework (the runtime its file is written for)" in c for c in said(at.caption)
    )
    assert not [s for s in at.selectbox if s.label == "Runtime"], "no runtime to choose: the file's factory says it"
    at.button(key="log_team_model").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert said(at.success) == ["Logged team-sum_desk version 1."]
    assert mlflow.MlflowClient(tracking_uri).get_model_version("team-sum_desk", "1").tags[contract.RunTag.RUNTIME] == "agentframework"
