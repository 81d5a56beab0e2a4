"""What the app shows reads on any machine (issue 32, finding 9): no emoji in pages/, ui/ or core/, since an emoji
shows as a box where no emoji font is installed (a server's Chromium, many Linux desktops). Markers are Material
icons (":material/thumb_up:") or words."""

from __future__ import annotations

import re
import tomllib

import pyarrow
import pytest
from conftest import ROOT

from core import documents, prompt_sets
from core.errors import InputError
from core.runtimes.agentchat import team_files
from tests.pages import open_app

EMOJI = re.compile("[\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\ufe0f]")


def test_no_emoji_in_what_the_pages_show():
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for folder in ("pages", "ui", "core")
        for path in sorted((ROOT / folder).rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if EMOJI.search(line)
    ]
    assert not found, "\n".join(found)


def test_the_upload_boxes_say_the_limit_the_app_checks(monkeypatch, tracking_uri, experiment_name):
    """The report's box said 2 MB (the server's setting) while a report may be 1 MB: each box now says its own
    limit, from the constant its check reads, and the server's ceiling is that largest limit."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", experiment_name)
    monkeypatch.delenv("APP_PROVIDER", raising=False)
    at = open_app()
    next(s for s in at.selectbox if s.label == "Scenario").set_value("analyst").run()
    boxes = {u.label: u.proto.max_upload_size_mb for u in at.get("file_uploader")}
    assert boxes == {"…or upload it (.txt, .md)": documents.MAX_UPLOAD_MB, "Team file": team_files.MAX_FILE_MB}, boxes
    with pytest.raises(InputError, match=f"reports can be up to {documents.MAX_UPLOAD_MB} MB"):
        documents.read_upload("report.txt", b"x" * (documents.MAX_UPLOAD_MB * 1_000_000 + 1))
    server = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())["server"]["maxUploadSize"]
    assert server == max(documents.MAX_UPLOAD_MB, team_files.MAX_FILE_MB)


def test_the_local_store_files_are_ignored_by_git():
    """sqlite in WAL mode leaves mlflow.db-wal and mlflow.db-shm beside mlflow.db while the app runs."""
    ignored = (ROOT / ".gitignore").read_text().split()
    assert {"mlflow.db", "mlflow.db-wal", "mlflow.db-shm"} <= set(ignored)


def test_the_prompt_sets_preview_is_one_type_a_column():
    """Mixed expectations (a count on one line, words on another) made the preview's columns mixed, and pyarrow
    refused them (ArrowInvalid tracebacks in the server's terminal on every rerun of the Models page)."""
    rows = prompt_sets.from_lines("a cat on a windowsill | min_cats: 10\na sunny beach | contains: beach\nplain prompt")
    frame = prompt_sets.preview(rows)
    table = pyarrow.Table.from_pandas(frame)  # what st.dataframe does with it; raised ArrowInvalid before
    assert table.column("min_cats").to_pylist() == [10, None, None]
    assert table.column("contains").to_pylist() == [None, "beach", None]
