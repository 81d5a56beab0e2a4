"""A user's own team in a real Chromium: upload AutoGen Studio's Default Team file as it is (the committed
fixture has its shape; `APP_STUDIO_TEAM_FILE` points at the real exported file when one is at hand), ask
"What is 12.5 times 8?" on the demo provider, see the calculator call with 100.0 and the answer, one trace
with the tool span, the conversation reopened by URL, the Traces page listing the team; and a team that
hands over to the user pausing and resuming across a reload."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from mlflow import MlflowClient
from playwright.sync_api import expect

from core import contract
from tests.browser.conftest import AppServer
from tests.browser.test_in_a_browser import choose_scenario, send, settle, wait_ready

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[2]
STUDIO_TEAM = Path(os.environ.get("APP_STUDIO_TEAM_FILE") or ROOT / "tests" / "fixtures" / "studio_calculator_team.json")


@pytest.fixture(scope="module")
def team_app(tmp_path_factory):
    """The app with a teams folder of its own holding the shipped hand-off team, and a data folder of its own where
    uploads land (never in the project's teams/ nor the teams folder)."""
    workdir = tmp_path_factory.mktemp("team-app")
    (workdir / "teams").mkdir()
    shutil.copy(ROOT / "teams" / "trip_desk.json", workdir / "teams")
    server = AppServer(workdir, env={"APP_TEAMS_DIR": str(workdir / "teams"), "APP_DATA_DIR": str(workdir / "data")})
    server.teams = workdir / "data" / "teams"  # where uploads are kept
    yield server
    server.stop()


def test_a_studio_team_file_uploaded_runs_offline_and_is_traced(team_app, page):
    page.goto(team_app.url)
    wait_ready(page)
    page.get_by_text("Bring your own team").click()
    page.locator("[data-testid=stFileUploader] input[type=file]").set_input_files(str(STUDIO_TEAM))
    expect(page.get_by_text(re.compile(r"^Added “.+” to the Scenario picker"))).to_be_visible(timeout=30_000)
    settle(page)
    label = page.get_by_role("combobox", name="Scenario").input_value()
    assert label in ("Calculator Team", "Default Team"), label
    assert (team_app.teams / STUDIO_TEAM.name).read_bytes() == STUDIO_TEAM.read_bytes(), "kept as it was"
    expect(page.get_by_text(re.compile(r"asks for gpt-4o-mini, runs on demo-chat"))).to_be_visible()

    send(page, "What is 12.5 times 8?")
    expect(page.get_by_text(re.compile(r"^Done in"))).to_be_visible(timeout=60_000)
    settle(page)
    messages = page.locator("[data-testid=stChatMessage]")
    expect(messages.filter(has_text='calculator(a=12.5, b=8.0, operator="*") → 100.0')).to_have_count(1)
    expect(messages.last).to_contain_text("100.0")
    assert "conversation=" in page.url

    key = "team:" + STUDIO_TEAM.stem.lower()
    client = MlflowClient(team_app.tracking_uri)
    experiment = client.get_experiment_by_name("browser")
    traces = client.search_traces(locations=[experiment.experiment_id], max_results=10)
    assert [t.info.tags[contract.RunTag.SCENARIO] for t in traces] == [key], "one trace for the turn, under the team"
    spans = client.get_trace(traces[0].info.trace_id).data.spans
    assert [s.name for s in spans if s.span_type == "TOOL"] == ["calculator"]

    page.goto(page.url)  # reopen by its address: a new browser session, everything from MLflow
    wait_ready(page)
    expect(page.locator("[data-testid=stChatMessage]").filter(has_text="→ 100.0")).to_have_count(1)
    expect(page.get_by_role("combobox", name="Scenario")).to_have_value(label)

    page.get_by_role("link", name="Traces").click()
    page.locator("[data-testid=stMultiSelect]").filter(has_text="Scenario").click()
    expect(page.get_by_role("option", name=label)).to_be_visible(timeout=60_000)  # by its label (issue 31), filtered by key


def test_a_team_that_hands_over_to_the_user_pauses_and_resumes_after_a_reload(team_app, page):
    page.goto(team_app.url)
    wait_ready(page)
    choose_scenario(page, "Trip desk (asks you)")
    send(page, "Plan a weekend in Lisbon")
    expect(page.get_by_text("The team is waiting for your answer")).to_be_visible(timeout=60_000)
    expect(page.get_by_text("Before I plan: which dates, and what budget?")).to_be_visible()
    page.reload()
    wait_ready(page)
    expect(page.get_by_text("The team is waiting for your answer")).to_be_visible()
    send(page, "June 6-8, 600 euros")
    expect(page.get_by_text(re.compile(r"^Done in"))).to_be_visible(timeout=60_000)
    expect(page.get_by_text("The team is waiting for your answer")).to_have_count(0)


def test_an_agent_framework_workflow_file_uploaded_runs_on_agent_framework(team_app, page, tmp_path):
    """A create_workflow(models) file through the same upload box: offered, its runtime shown as Agent Framework
    (locked), a turn on the demo provider with its tool call, traced with the runtime tag."""
    from tests.test_workflow_factories import GOOD  # noqa: PLC0415 - the workflow file the core tests use

    workflow = tmp_path / "adder_desk.py"
    workflow.write_text(GOOD)
    page.goto(team_app.url)
    wait_ready(page)
    page.get_by_text("Bring your own team").click()
    page.locator("[data-testid=stFileUploader] input[type=file]").set_input_files(str(workflow))
    expect(page.get_by_text("Added “Adder desk” to the Scenario picker")).to_be_visible(timeout=30_000)
    settle(page)
    expect(page.get_by_role("combobox", name="Scenario")).to_have_value("Adder desk")
    expect(page.get_by_role("combobox", name="Runtime")).to_have_value("Agent Framework")
    expect(page.get_by_role("combobox", name="Runtime")).to_be_disabled()

    send(page, "2.5 plus 4")
    expect(page.get_by_text(re.compile(r"^Done in"))).to_be_visible(timeout=60_000)
    expect(page.locator("[data-testid=stChatMessage]").filter(has_text="add(a=2.5, b=4.0) → 6.5")).to_have_count(1)
    client = MlflowClient(team_app.tracking_uri)
    experiment = client.get_experiment_by_name("browser")
    wanted = f"tags.`{contract.RunTag.SCENARIO}` = 'team:adder_desk'"
    for _ in range(50):  # the server's MLflow writes traces on its own thread
        if traces := client.search_traces(locations=[experiment.experiment_id], filter_string=wanted):
            break
        page.wait_for_timeout(200)
    assert [t.info.tags[contract.RunTag.RUNTIME] for t in traces] == ["agentframework"]
