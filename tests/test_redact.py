"""Secrets out of texts (core/redact.py, issue 18): what `scrub` masks and what it leaves alone, the log scrubber on
autogen's loggers and the root logger's handlers, and a real turn whose tool fails with an error quoting a key,
a bearer token and a password: none of them in the store's files, the trace, the transcript or the outcome."""

from __future__ import annotations

import asyncio
import base64
import io
import logging

import pytest

from core import redact, traces
from core.config import Secret, Settings
from core.conversations import Conversation, ConversationStore
from core.errors import describe
from core.observe import export
from core.scenarios import weather as weather_scenario
from core.scenarios import weather_source
from core.store import scrub as store_scrub
from core.turn import TurnRequest, run_turn
from tests.openai_server import make_png

KEY = "plain-key-without-prefix-7c1d9e2f4a6b8c0d"  # a configured key: found by its value alone
TOKEN = "opaque.token-5b6c7d8e9f0a1b2c3d4e"  # recognisable only by where it stands (after "Bearer")
PASSWORD = "s3cr3t-pa55word"


@pytest.mark.parametrize(
    "text, secret",
    [
        ("Incorrect API key provided: sk-proj-AbCdEf0123456789xyzXYZ.", "sk-proj-AbCdEf0123456789xyzXYZ"),
        ("key sk-ant-api03-0123456789abcdefABCDEF in use", "sk-ant-api03-0123456789abcdefABCDEF"),
        (f"headers={{'Authorization': 'Bearer {TOKEN}'}}", TOKEN),
        ("authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA"),
        (f"got 401 for bearer {TOKEN}", TOKEN),
        (f"could not connect to postgresql://app:{PASSWORD}@db.internal:5432/mlflow", PASSWORD),
        (f"GET https://bot:{PASSWORD}@gateway.example/v1/models", PASSWORD),
        (f'{{"api_key": "{PASSWORD}", "model": "gpt-4o-mini"}}', PASSWORD),
        (f"https://api.example/v1?api-key={PASSWORD}&q=1", PASSWORD),
        (f"password={PASSWORD}", PASSWORD),
        ("a GitHub token ghp_0123456789abcdefABCDEF0123456789abcd", "ghp_0123456789abcdefABCDEF0123456789abcd"),
        ("hf_AbCdEfGhIjKlMnOpQrStUvWxYz0123 is a Hugging Face token", "hf_AbCdEfGhIjKlMnOpQrStUvWxYz0123"),
        ("Google: AIzaSyA0123456789abcdefghijklmnopqrstuv", "AIzaSyA0123456789abcdefghijklmnopqrstuv"),
        ("AWS AKIAIOSFODNN7EXAMPLE key", "AKIAIOSFODNN7EXAMPLE"),
        (
            "session eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
            "eyJzdWIiOiIxMjM0NTY3ODkwIn0",
        ),
    ],
)
def test_scrub_masks_keys_tokens_and_passwords(text, secret):
    cleaned = redact.scrub(text)
    assert secret not in cleaned and redact.MASK in cleaned, cleaned


@pytest.mark.parametrize(
    "text",
    [
        "max_tokens=400, total_tokens: 812, tokens: 12",
        "http://127.0.0.1:5000/v1 and postgresql://app@db.internal/mlflow",
        "The model provider rejected the API key (401). Check the key in the sidebar or secrets.",
        "the bearer of bad news; the secret is in the sauce; a password manager",
        "task-0123456789abcdefghij and risk-assessment-of-the-quarter",
        "mlflow-attachment://0a1b2c3d?content_type=image/png&trace_id=tr-0123456789abcdef0123456789abcdef",
        "CRITICS: Not nearly enough cats.\nPROMPT: a cat in a hat with many more cats",
        base64.b64encode(make_png("64x64") * 50).decode(),
    ],
)
def test_scrub_leaves_ordinary_text_alone(text):
    assert redact.scrub(text) == text


def test_a_configured_key_is_masked_by_its_value_however_it_looks():
    Secret(KEY)  # a Secret remembers itself: settings from the environment, the sidebar's typed key
    assert redact.scrub(f"Upstream refused {KEY}!") == f"Upstream refused {redact.MASK}!"
    Secret("short")  # too short to mask everywhere: only where named
    assert redact.scrub("a short word") == "a short word"
    assert redact.scrub("a short word", ("short",)) == f"a {redact.MASK} word"
    assert Settings(api_key=KEY[::-1]).api_key == KEY[::-1] and redact.scrub(KEY[::-1]) == redact.MASK


def test_describe_and_the_store_use_the_same_scrub():
    error = RuntimeError(f"upstream said: key {KEY} is wrong, bearer {TOKEN}, " + "x" * 400)
    said = describe(error, secrets=(KEY,))
    assert KEY not in said and TOKEN not in said and said.startswith("The turn failed: RuntimeError:")
    # a key near the end of a long text is masked before the sentence is cut short, not cut in half
    said = describe(RuntimeError("x" * 280 + f" {KEY}"), secrets=(KEY,))
    assert KEY[:12] not in said
    uri = f"postgresql://app:{PASSWORD}@db.internal/mlflow"
    assert PASSWORD not in store_scrub(f"could not connect to {uri} (password {PASSWORD})", uri)


def test_log_records_lose_their_secrets_message_arguments_and_traceback():
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    root = logging.getLogger()
    root.addHandler(handler)
    events = logging.getLogger("autogen_core.events")  # a child logger: scrubbed by the root's handlers
    level = events.level
    events.setLevel(logging.DEBUG)
    try:
        redact.install_log_scrubber()
        redact.install_log_scrubber()  # again: nothing doubles
        assert len(handler.filters) == 1
        assert any(isinstance(f, redact.LogScrubber) for f in logging.getLogger("autogen_core").filters)
        events.info("payload %s", {"error_message": f"Incorrect API key provided: {KEY}, bearer {TOKEN}"})
        try:
            raise ValueError(f"Error code: 401 - key {KEY}; Authorization: Bearer {TOKEN}")
        except ValueError:
            logging.getLogger("autogen_core").exception("Error processing publish message for %s", KEY)
    finally:
        root.removeHandler(handler)
        events.setLevel(level)
    logged = out.getvalue()
    assert "Traceback (most recent call last)" in logged and "Error code: 401" in logged
    assert KEY not in logged and TOKEN not in logged, logged


class QuotingSource:
    """A weather source whose error quotes the secrets it used, as some services do."""

    name = "quoting"

    async def current(self, city: str) -> weather_source.Weather:
        raise weather_source.WeatherError(
            f"the weather service refused key {KEY} (Authorization: Bearer {TOKEN}) at https://bot:{PASSWORD}@weather.example/v1"
        )


def test_a_tool_error_quoting_secrets_reaches_no_trace_transcript_or_artifact(tmp_path, monkeypatch):
    """The tool's "ERROR: …" line is a tool span's output (marked failed), a transcript line, the agents' saved
    state and the planner's answer: each is scrubbed before it is traced, shown or saved."""
    monkeypatch.setattr(weather_scenario, "weather_source_for", lambda options, clients: QuotingSource())
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    store = ConversationStore.connect(uri, "tool-secrets")
    settings = Settings(tracking_uri=uri, api_key=KEY)  # the demo provider, with a key configured
    outcome = asyncio.run(
        run_turn(
            TurnRequest(
                Conversation(scenario=weather_scenario.KEY, session_id="s", provider="demo"), "What's the weather in Oslo?", settings, store
            )
        )
    )
    assert outcome.status == "ok", outcome.error
    tool_lines = [e["text"] for e in outcome.entries if e["role"] == "tool"]
    assert tool_lines and "the weather service refused key ***" in tool_lines[0], tool_lines
    export.flush()
    trace = traces.load_trace(uri, str(outcome.trace_id))
    [tool] = [s for s in trace.data.spans if s.span_type == "TOOL"]
    assert tool.status.status_code.value == "ERROR" and "refused key ***" in str(tool.outputs)
    shown = [str(outcome.entries), str(outcome.conversation.transcript), str(outcome.conversation.state), traces.trace_json(trace)]
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "state.json" for p in files) and any(p.name == "transcript.json" for p in files)
    for secret in (KEY, TOKEN, PASSWORD):
        assert not [i for i, text in enumerate(shown) if secret in text], secret
        assert not [p.name for p in files if secret.encode() in p.read_bytes()], secret
