"""Issue 20: versions of a team evaluated on a prompt set with MLflow's GenAI evaluation, the winner promoted; prompt
sets as MLflow evaluation datasets; the CLI's exit codes; the Models page's alias fix and its evaluation; any team
(built-in or a file) as a model, a team file served by a real `mlflow models serve`.

Lean on purpose (the suite's time): one store with two Catify versions (1 iteration each) and one evaluation on
three prompts for the module; the CLI re-judges that kind of evaluation from its run instead of running again."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path

import mlflow
import pytest
from streamlit.testing.v1 import AppTest

from core import contract, evaluation, prompt_sets, scenarios
from core.config import Settings
from core.conversations import ConversationStore
from core.errors import InputError
from core.mlflow_model import registry
from core.observe import export
from core.records import Asker
from scripts import evaluate_models as cli
from tests.net import free_port, wait_until_up
from tests.openai_server import OpenAIStub, ReplyFault
from tests.pages import open_models_page

EXPERIMENT = "evaluations"
DOGS = "Add dogs. A few dogs."
CATS = "Add fluffy cats. At least 100 cats."
PROMPTS = "a cat on a windowsill | min_cats: 10\nthe matrix with a cat | min_cats: 10\na sunny beach | contains: BEACH"
TEAM_FIXTURE = Path(__file__).parent / "fixtures" / "studio_calculator_team.json"
TEAM_KEY = "team:studio_calculator_team"


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """Catify v1 (the critic wants dogs) @champion and v2 (it wants 100 cats) @challenger, 1 iteration each."""
    uri = f"sqlite:///{tmp_path_factory.mktemp('evaluation') / 'mlflow.db'}"
    settings = Settings(tracking_uri=uri)
    dogs = registry.log_catify(uri, EXPERIMENT, settings, 1, instruction=DOGS)
    cats = registry.log_catify(uri, EXPERIMENT, settings, 1, instruction=CATS)
    registry.set_alias(uri, "champion", dogs)
    registry.set_alias(uri, "challenger", cats)
    return uri, dogs, cats


@pytest.fixture(scope="module")
def evaluated(pair):
    uri, _, _ = pair
    experiment_id = ConversationStore.connect(uri, EXPERIMENT).experiment_id
    saved = prompt_sets.save(uri, experiment_id, "three cats", prompt_sets.from_lines(PROMPTS), "catify")
    return evaluation.evaluate(uri, EXPERIMENT, "catify", ["champion", "challenger"], saved, Settings(tracking_uri=uri))


def test_two_catify_versions_are_evaluated_on_three_prompts_and_the_better_one_promoted(pair, evaluated):
    uri, dogs, cats = pair
    result = evaluated
    assert [(r.ref, r.version) for r in result.rows] == [("champion", dogs)] * 3 + [("challenger", cats)] * 3
    by = {(r.ref, r.prompt): r for r in result.rows}
    for prompt in ("a cat on a windowsill", "the matrix with a cat"):
        # the demo critic asks the dogs version for dogs: its final picture keeps one cat; the other draws 12
        assert (by["champion", prompt].scores["cats"], by["challenger", prompt].scores["cats"]) == (1, 12)
        assert by["champion", prompt].scores["expectation"] is False and by["challenger", prompt].scores["expectation"]
    assert by["champion", "a sunny beach"].scores["expectation"] is True, "contains is checked in any case"
    for row in result.rows:
        assert row.scores["no_error"] and row.scores["ended_by_termination"] and row.scores["critic_format"]
        assert row.scores["iterations_used"] == 1 and row.scores["cost_usd"] == 0 and row.latency_s > 0
        assert len(row.pictures) == 2 and row.answer == row.pictures[-1]["prompt"]
    champion, challenger = result.find("champion"), result.find("challenger")
    assert (champion.score, challenger.score) == (pytest.approx(5 / 6), 1.0)
    assert result.winner is challenger and "LLM judge skipped" in result.judge_note
    assert evaluation.load(uri, result.run_id) == result, "read back from the parent run's artifact"

    # MLflow's own UI: one evaluation run per version with its traces linked, each scored by assessments, in the chats'
    # models experiment (issue 32): the chat experiment holds none of them, and the Models page lists it as before
    client = mlflow.MlflowClient(uri)
    chats = ConversationStore(uri, EXPERIMENT)
    assert result.experiment_id == chats.models_experiment_id != chats.experiment_id
    assert client.get_experiment(result.experiment_id).tags[contract.ExperimentTag.MODELS_OF] == chats.experiment_id
    assert client.get_run(result.run_id).info.experiment_id == result.experiment_id
    assert {client.get_trace(r.trace_id).info.experiment_id for r in result.rows} == {result.experiment_id}
    assert result.run_id in [e.run_id for e in evaluation.past(uri, chats.experiment_id, "catify")]
    for totals in result.totals:
        run = client.get_run(totals.run_id)
        assert run.data.tags["mlflow.runType"] == "genai_evaluate"
        assert run.data.tags[contract.RunTag.EVALUATION] == result.run_id and run.data.metrics["cats/mean"] == totals.means["cats"]
        mlflow.set_tracking_uri(uri)
        traces = mlflow.search_traces(locations=[result.experiment_id], run_id=totals.run_id, return_type="list")
        assert sorted(t.info.trace_id for t in traces) == sorted(r.trace_id for r in result.rows if r.ref == totals.ref)
        for trace in traces:
            names = {a.name for a in trace.info.assessments}
            assert {"cats", "expectation", "no_error", "critic_format", "latency_s"} <= names
            assert trace.info.tags[contract.RunTag.SCENARIO] == "catify" and len(trace.data.spans) > 3, "the turn's own trace"
        pictures = {f.path for f in client.list_artifacts(totals.run_id, "images")}
        assert {p["artifact_path"] for r in result.rows if r.ref == totals.ref for p in r.pictures} == pictures

    version, record = evaluation.promote(uri, result, "champion", "tester")
    assert version == cats and record.startswith("tester at ")
    rows = {r.version: r for r in registry.versions(uri)}
    assert "champion" in rows[cats].aliases and rows[cats].promoted == {"champion": record}
    assert rows[dogs].instruction == DOGS and rows[cats].instruction == CATS, "the instruction is the version's"
    registry.set_alias(uri, "champion", dogs)  # as the fixture had it, for the tests after this one


def test_prompt_sets_are_mlflow_evaluation_datasets_from_lines_files_and_past_turns(pair, evaluated, mlflow_server):
    uri = pair[0]
    experiment_id = ConversationStore(uri, EXPERIMENT).experiment_id  # the chats' (evaluated.experiment_id: its models')
    uploaded = prompt_sets.from_upload("set.csv", b"prompt,contains,regex,min_cats\na cat,cat,,\n,,,\ntwo cats,,c.t,2\n")
    assert [(r.prompt, r.expectations()) for r in uploaded] == [
        ("a cat", {"contains": "cat"}),
        ("two cats", {"regex": "c.t", "min_cats": 2}),
    ]
    as_json = prompt_sets.from_upload(
        "set.json", json.dumps(["a dog", {"prompt": "a cow", "regex": "cow"}, {"inputs": {"prompt": "a hen"}, "expectations": {}}]).encode()
    )
    assert [r.prompt for r in as_json] == ["a dog", "a cow", "a hen"]
    for name, data, says in [
        ("set.csv", b"text\nhi\n", "needs a “prompt” column"),
        ("set.json", b"[1]", "neither a prompt"),
        ("set.json", b'[{"prompt": "a", "regex": "("}]', "is not valid"),
        ("set.txt", b"hi", "upload a .csv or .json"),
        ("set.csv", b"prompt\n\n", "is empty"),
    ]:
        with pytest.raises(InputError, match=says):
            prompt_sets.from_upload(name, data)
    with pytest.raises(InputError, match="Line 1: “wants: x” is not an expectation"):
        prompt_sets.from_lines("a cat | wants: x")

    # past turns are chat turns and predictions, told apart from an evaluation's answers by the trace's kind (issue 29)
    model = registry.load(uri, f"models:/catify/{pair[1]}")
    mlflow.set_tracking_uri(uri)  # where a page's store points MLflow (core.store.prepare)
    models = ConversationStore(uri, EXPERIMENT).models_experiment_id  # where the Models page predicts (issue 32)
    [asked] = registry.predict(model, ["a lone cat on a fence"], {"iterations": 1}, models, Asker(session="visitor-7"))
    export.flush()
    client = mlflow.MlflowClient(uri)
    prediction = client.get_trace(asked["trace_id"]).info
    assert prediction.tags[contract.TraceTag.KIND] == contract.TraceKind.PREDICTION
    assert contract.trace_owner(prediction.tags, prediction.trace_metadata) == "visitor-7", "the visitor's own trace"
    answers = {client.get_trace(r.trace_id).info.tags.get(contract.TraceTag.KIND) for r in evaluated.rows}
    assert answers == {contract.TraceKind.EVALUATION}
    past = prompt_sets.from_past_turns(uri, experiment_id, "catify")
    assert [r.prompt for r in past] == ["a lone cat on a fence"] and all(r.source_trace for r in past)
    saved = prompt_sets.save(uri, experiment_id, "from turns", past, "catify")
    loaded = prompt_sets.load(uri, saved.dataset_id)
    assert loaded.rows == past, "in order, with each prompt's trace as its source"
    assert [s.name for s in prompt_sets.list_sets(uri, experiment_id)] == ["from turns", "three cats"]
    with pytest.raises(InputError, match="exists already"):
        prompt_sets.save(uri, experiment_id, "from turns", past)

    # the same through a tracking server (MLflow's REST API for datasets)
    remote_experiment = ConversationStore.connect(mlflow_server.uri, f"sets-{uuid.uuid4().hex[:6]}").experiment_id
    remote = prompt_sets.save(mlflow_server.uri, remote_experiment, "over http", uploaded)
    assert prompt_sets.load(mlflow_server.uri, remote.dataset_id).rows == uploaded
    assert [s.name for s in prompt_sets.list_sets(mlflow_server.uri, remote_experiment)] == ["over http"]


def test_the_cli_fails_when_the_challenger_is_worse_by_more_than_the_margin(pair, evaluated, monkeypatch, capsys):
    uri, dogs, cats = pair
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", EXPERIMENT)
    # the cats version as champion, the dogs version challenging on one prompt: worse, exit 1
    assert cli.main(["--champion", str(cats), "--challenger", str(dogs), "--prompt", "a cat in the snow | min_cats: 10", "--no-save"]) == 1
    out = capsys.readouterr().out
    assert "a cat in the snow" in out and "is worse than" in out and "LLM judge skipped" in out
    run_id = out.split("(run ", 1)[1].split(")", 1)[0]
    # the same evaluation judged again from its run: within a margin of 1 it passes; on cost it is not worse
    assert cli.main(["--from-run", run_id, "--champion", str(cats), "--challenger", str(dogs), "--margin", "1"]) == 0
    assert cli.main(["--from-run", run_id, "--champion", str(cats), "--challenger", str(dogs), "--metric", "cost_usd"]) == 0
    assert "not worse than" in capsys.readouterr().out
    # the module's evaluation, challenger better: exit 0, and --promote moves the alias to the winner
    assert cli.main(["--from-run", evaluated.run_id, "--champion", "champion", "--challenger", "challenger", "--promote", "best"]) == 0
    assert f"best -> catify version {cats}" in capsys.readouterr().out
    assert registry.resolve(uri, "catify", "best").version == cats
    for argv, says in [
        (["--champion", "champion", "--challenger", "nope", "--prompt", "a cat"], "no alias “nope”"),
        (["--champion", "champion", "--challenger", "challenger", "--prompts", "/nonexistent.csv"], "is not a file"),
        (["--from-run", run_id, "--champion", str(cats), "--challenger", str(dogs), "--metric", "x"], "No x for"),
        (["--champion", "champion", "--challenger", "challenger"], "Give the prompts one way"),
    ]:
        assert cli.main(argv) == 2
        err = capsys.readouterr().err
        assert says in err and "Traceback" not in err, err


def frame(at: AppTest, column: str):
    """The page's table that has this column (AppTest does not give a dataframe's key back)."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def test_models_page_aliases_the_new_version_and_evaluates_and_promotes(pair, monkeypatch):
    """The alias fix: after "Log as a new version" the Version box holds the new version (it kept the old one, so
    Set alias pointed at it); the instruction is logged; Predict starts at the version's iterations; the lineage
    says #0 → #1. Then an evaluation as a new user would run it, and Promote."""
    uri, dogs, cats = pair
    at = open_models_page(monkeypatch, uri, EXPERIMENT)
    at.selectbox(key="alias_version").set_value(dogs).run()  # the box shows an older version, as a user left it
    at.slider(key="model_iterations").set_value(1)
    at.text_area(key="model_instruction").set_value("Add twelve kittens.")
    at.button(key="log_model").click().run()
    new = max(r.version for r in registry.versions(uri))
    assert any(f"Logged catify version {new}" in s.value for s in at.success)
    assert at.selectbox(key="alias_version").value == new
    at.text_input(key="alias_name").set_value("staging")
    at.button(key="set_alias").click().run()
    assert registry.resolve(uri, "catify", "staging").version == new
    table = frame(at, "critic instruction")
    assert table.loc[table.version == new, "critic instruction"].item() == "Add twelve kittens."
    at.selectbox(key="predict_uri").set_value("models:/catify@staging").run()
    assert at.number_input(key=f"predict_iterations_{new}").value == 1
    at.button(key="predict").click().run()
    lineage = frame(at, "added")
    assert (lineage["from"].tolist(), lineage["to"].tolist()) == (["#0"], ["#1"])

    at.radio(key="eval_source").set_value("typed").run()
    at.text_area(key="eval_typed").set_value("a cat on a roof | min_cats: 5").run()
    assert at.multiselect(key="eval_refs_catify").value == ["champion", "challenger"]
    at.button(key="evaluate").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    totals = frame(at, "winner")
    assert totals["version"].tolist() == [f"champion (v{dogs})", f"challenger (v{cats})"]
    assert totals["winner"].tolist() == [False, True] and totals["score"].tolist() == [0.75, 1.0]
    assert len(at.get("image")) == 2 + 2, "the prediction's two pictures, then each version's final one side by side"
    assert any("LLM judge skipped" in c.value for c in at.caption)
    at.button(key="promote").click().run()
    assert any(f"champion → catify version {cats}" in s.value for s in at.success), [s.value for s in at.success]
    assert registry.resolve(uri, "catify", "champion").version == cats
    registry.set_alias(uri, "champion", dogs)


def test_built_in_teams_are_models_with_their_options(tmp_path):
    """Analyst & Summarizer with its report and Weather with its source: logged, loaded back, predicting offline."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    report = "Revenue grew 12% in 2025. Costs fell 3%. The main risk is the supply of chips."
    name, version = registry.log_team(uri, "teams", Settings(tracking_uri=uri), "analyst", {"report": report})
    assert (name, version) == ("analyst", 1)
    [answer] = registry.predict(registry.load(uri, "models:/analyst/1"), ["What is the main risk?"])
    assert answer["status"] == "ok" and {m["name"] for m in answer["messages"]} == {"analyst", "summarizer"}
    assert any("supply of chips" in m["text"] for m in answer["messages"]), "the logged report is the version's"
    name, version = registry.log_team(uri, "teams", Settings(tracking_uri=uri), "weather")
    [answer] = registry.predict(registry.load(uri, "models:/weather/1"), ["What's the weather in Paris?"])
    assert "Paris" in answer["answer"] and any(m["role"] == "tool" for m in answer["messages"])
    tags = mlflow.MlflowClient(uri).get_model_version("weather", "1").tags
    logged = json.loads(tags[contract.RunTag.OPTIONS])
    assert set(logged) == {o.key for o in scenarios.get("weather").options} and logged["weather_source"] == "offline", (
        "every option that shapes its answers is recorded"
    )
    with pytest.raises(registry.RegistryError, match="has no option colour"):
        registry.log_team(uri, "teams", Settings(tracking_uri=uri), "weather", {"colour": "red"})

    # every team's scorers, on Weather: an alias against the version number it points to
    registry.set_alias(uri, "champion", 1, "weather")
    result = evaluation.evaluate(
        uri,
        "teams",
        "weather",
        ["champion", "1"],
        prompt_sets.PromptSet("weather", prompt_sets.from_lines("What's the weather in Paris? | regex: Paris: -?\\d+ °C")),
    )
    assert result.scenario == "weather" and [t.label for t in result.totals] == ["champion (v1)", "v1"]
    for row in result.rows:
        assert {k: row.scores[k] for k in ("no_error", "ended_by_termination", "expectation")} == {
            "no_error": True,
            "ended_by_termination": True,
            "expectation": True,
        }
        assert "cats" not in row.scores and "critic_format" not in row.scores and "Paris" in row.answer


def test_a_team_file_is_logged_and_served_by_mlflow_models_serve(tmp_path, monkeypatch):
    folder = tmp_path / "teams"
    folder.mkdir()
    shutil.copy(TEAM_FIXTURE, folder / TEAM_FIXTURE.name)
    monkeypatch.setenv("APP_TEAMS_DIR", str(folder))
    scenarios.rescan()
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    try:
        name, version = registry.log_team(uri, "served", Settings(tracking_uri=uri), TEAM_KEY)
    finally:
        monkeypatch.delenv("APP_TEAMS_DIR")
        scenarios.rescan()
    registry.set_alias(uri, "champion", version, name)
    port = free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "MLFLOW_EXPERIMENT_NAME": "served", "DEMO_LATENCY_MS": "0"}
    env.pop("OPENAI_API_KEY", None)
    env.pop("APP_TEAMS_DIR", None)  # the server has only the version's own copy of the file
    # mlflow.set_experiment exports the id of an earlier test's experiment, in another store: MLflow would prefer it
    env.pop("MLFLOW_EXPERIMENT_ID", None)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "models",
            "serve",
            "-m",
            f"models:/{name}@champion",
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
    try:
        wait_until_up(f"http://127.0.0.1:{port}/ping", process, 90, lambda: process.stderr.read().decode()[-2000:])
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations",
            headers={"Content-Type": "application/json"},
            data=json.dumps({"inputs": ["What is 12.5 times 8?"]}).encode(),
        )
        with urllib.request.urlopen(request, timeout=60) as reply:
            [prediction] = json.loads(reply.read())["predictions"]
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(20)
    assert prediction["status"] == "ok" and "100.0" in prediction["answer"]
    assert [m["text"] for m in prediction["messages"] if m["role"] == "tool"] == ['calculator(a=12.5, b=8.0, operator="*") → 100.0']
    trace = mlflow.MlflowClient(uri).get_trace(prediction["trace_id"])
    assert trace.info.tags[contract.RunTag.SCENARIO] == TEAM_KEY + "@model"


def test_the_llm_judge_only_with_a_real_provider_and_failed_predictions_score_as_errors(pair, monkeypatch):
    """On the demo there is no judge (a note says so); on an OpenAI-compatible server (the loopback stub) MLflow's
    judge asks that server with the environment's key. A prediction that fails is a row with its error, scored."""
    uri, dogs, cats = pair
    _, note = evaluation.scorers_for("catify", Settings())
    assert note == evaluation.DEMO_JUDGE_NOTE
    with OpenAIStub() as server:
        compatible = Settings(provider="openai-compatible", api_key="sk-judge", base_url=server.base_url, chat_model="gpt-4o-mini")
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        assert evaluation.scorers_for("weather", compatible)[1] == evaluation.NO_JUDGE_KEY_NOTE
        monkeypatch.setenv("OPENAI_API_KEY", "sk-judge")
        scorers, note = evaluation.scorers_for("weather", compatible)
        assert note.startswith("LLM judge: gpt-4o-mini") and [s.name for s in scorers][-1] == "judge"
        server.add_fault(ReplyFault(content=json.dumps({"result": False, "rationale": "It names no city."})))
        verdict = scorers[-1](inputs={"prompt": "Weather in Paris?"}, outputs={"answer": "It is sunny."})
        assert (verdict.value, verdict.rationale) == (False, "It names no city.")
        [asked] = server.requests_to("/chat/completions")
        assert asked.authorization == "Bearer sk-judge" and "It is sunny." in json.dumps(asked.body)

    monkeypatch.delenv("OPENAI_API_KEY")
    failing = evaluation.evaluate(
        uri,
        EXPERIMENT,
        "catify",
        [str(dogs), str(cats)],
        prompt_sets.PromptSet("unsaved", prompt_sets.from_lines("a cat")),
        params={"provider": "openai"},
    )
    assert [r.error.startswith("The prediction failed: The OpenAI provider needs an API key") for r in failing.rows] == [True, True]
    assert all(r.scores["no_error"] is False and r.scores["ended_by_termination"] is False for r in failing.rows)
    assert [t.score for t in failing.totals] == [0.0, 0.0] and [t.errors for t in failing.totals] == [1, 1]
    trace = mlflow.MlflowClient(uri).get_trace(failing.rows[0].trace_id)
    assert trace.info.state.value == "ERROR" and {a.name for a in trace.info.assessments} >= {"no_error"}
