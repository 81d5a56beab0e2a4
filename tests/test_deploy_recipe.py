"""docs/DEPLOY.md followed literally (issue 17): its server block runs as written on a real PostgreSQL, with only
the placeholders replaced (password, database address, bucket, port, 0.0.0.0 by loopback, the server's name
mlflow.internal by localhost in both blocks), and its app block's
`MLFLOW_TRACKING_URI` serves two app instances: the three scenarios, a weather conversation paused on one
instance and resumed on the other, pictures through the artifact proxy, the Traces and Models pages. The doc
is the one place the commands live; this test reads them from it."""

from __future__ import annotations

import asyncio
import re
import shlex
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
import sqlalchemy
from conftest import ROOT
from streamlit.testing.v1 import AppTest

from core.config import Settings
from core.conversations import Conversation, ConversationStore
from core.observe import export
from core.turn import TurnRequest, run_turn
from tests.net import free_port, wait_until_up
from tests.postgres import Postgres

pytestmark = pytest.mark.postgres  # the recipe's own PostgreSQL
DEPLOY = ROOT / "docs" / "DEPLOY.md"


def recipe(name: str) -> list[str]:
    """The commands of the block under `<!-- recipe: name -->`, continuation lines joined, comments left out."""
    text = DEPLOY.read_text(encoding="utf-8")
    block = re.search(rf"<!-- recipe: {name} -->\s*```bash\n(.*?)```", text, re.S)
    assert block, f"DEPLOY.md has no `recipe: {name}` block"
    joined = block.group(1).replace("\\\n", " ")
    return [line.strip() for line in joined.splitlines() if line.strip() and not line.strip().startswith("#")]


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    """PostgreSQL, then the recipe's `mlflow server` on it; yields (the app's tracking URI, the server's port)."""
    workdir = tmp_path_factory.mktemp("deploy")
    install, serve = recipe("server")
    assert install.startswith("pip install") and "psycopg[binary]" in install and "mlflow==" in install
    with Postgres(workdir / "postgres").start() as pg:
        port = free_port()
        command = (
            serve.replace("<password>", pg.PASSWORD)
            .replace("db.internal:5432", f"127.0.0.1:{pg.port}")
            .replace("s3://my-bucket/mlflow", str(workdir / "artifacts"))
            .replace("0.0.0.0", "127.0.0.1")
            .replace(":5000", f":{port}")
            .replace("--port 5000", f"--port {port}")
            .replace("mlflow.internal", "localhost")
        )  # the server's name: one that resolves here
        args = shlex.split(command)
        assert args[0] == "mlflow" and "--allowed-hosts" in args
        log = (workdir / "server.log").open("w")
        process = subprocess.Popen([sys.executable, "-m", *args], stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
        try:
            wait_until_up(f"http://127.0.0.1:{port}/health", process, 120, lambda: (workdir / "server.log").read_text()[-2000:])
            [app] = recipe("app")
            uri = re.search(r"MLFLOW_TRACKING_URI=(\S+)", app).group(1)
            assert uri == "http://mlflow.internal:5000" and "APP_HOSTED=1" in app
            yield uri.replace("mlflow.internal:5000", f"localhost:{port}"), port
        finally:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()


def test_the_driver_the_recipe_installs_is_the_one_postgresql_uris_need():
    install = recipe("server")[0]
    dialect = sqlalchemy.create_engine("postgresql://u:p@127.0.0.1:1/d").dialect
    assert dialect.driver == "psycopg" and "psycopg[binary]" in install, "postgresql:// means psycopg 3"


def test_the_server_answers_the_names_the_recipe_allows_and_no_other(deployed):
    _, port = deployed

    def status(host: str) -> int:
        request = urllib.request.Request(f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/search?max_results=1", headers={"Host": host})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code

    assert status(f"localhost:{port}") == 200  # the name the instances use
    assert status("attacker.example") == 403, "DNS-rebinding protection stays on"


def test_two_instances_run_every_scenario_on_the_recipes_server(deployed, monkeypatch):
    uri, _ = deployed
    settings = Settings(tracking_uri=uri)
    one, two = ConversationStore.connect(uri, "deployed"), ConversationStore.connect(uri, "deployed")
    paused = asyncio.run(
        run_turn(TurnRequest(Conversation(scenario="weather", session_id="v1", provider="demo"), "What's the weather?", settings, one))
    )
    assert paused.status == "waiting" and not paused.warnings, (paused.error, paused.warnings)
    resumed = asyncio.run(run_turn(TurnRequest(two.load(paused.conversation.id), "Oslo", settings, two)))
    assert resumed.status == "ok" and "Oslo" in resumed.entries[-1]["text"]
    drawn = asyncio.run(
        run_turn(
            TurnRequest(
                Conversation(scenario="catify", session_id="v2", provider="demo", options={"iterations": 1}), "a cat", settings, two
            )
        )
    )
    assert drawn.status == "ok", drawn.error
    report = "Sales grew 12% to $4.5 million in Q3. Costs rose 3%. Risks: supply delays at the northern plant."
    read = asyncio.run(
        run_turn(
            TurnRequest(
                Conversation(scenario="analyst", session_id="v3", provider="demo", options={"report": report}),
                "What are the risks?",
                settings,
                one,
            )
        )
    )
    assert read.status == "ok", read.error
    reopened = one.load(drawn.conversation.id)  # pictures written by one instance, read by the other
    assert len(reopened.image_lookup) == 2
    assert all(one.load_image(reopened.id, i).startswith(b"\x89PNG") for i in reopened.image_lookup)
    assert {c.id for c in two.recent()} == {paused.conversation.id, drawn.conversation.id, read.conversation.id}

    export.flush()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "deployed")
    monkeypatch.delenv("APP_HOSTED", raising=False)  # the owner's view: every visitor's traces
    for page in ("traces.py", "models.py"):
        at = AppTest.from_file(str(ROOT / "pages" / page), default_timeout=120)
        at.run()
        assert not at.exception, (page, [e.value for e in at.exception])
        assert not at.error, (page, [e.value for e in at.error])
    traces_page = AppTest.from_file(str(ROOT / "pages" / "traces.py"), default_timeout=120)
    traces_page.run()
    assert {m.label: m.value for m in traces_page.metric}["Traces"] == "4"
