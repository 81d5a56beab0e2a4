"""The Weather group chat in core: the speaker rules, the model fallback, the hand-off to the user and the
resume from saved JSON state (demo provider, and the OpenAI path against the local server), the weather
sources (offline, and Open-Meteo's API served on loopback) with failures and timeouts, and the trace."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from autogen_agentchat.messages import HandoffMessage, TextMessage

from core.config import Settings
from core.conversations import Conversation
from core.runtimes.agentchat.teams import weather_speakers
from core.scenarios import weather as weather_scenario
from core.scenarios import weather_source as weather
from core.turn import TurnRequest, run_turn
from tests.openai_server import OpenAIStub

pytestmark = pytest.mark.filterwarnings("ignore:Resolved model mismatch:UserWarning")


def weather_chat() -> Conversation:
    return Conversation(scenario=weather_scenario.KEY, session_id="s", provider="demo")


def turn(conversation, message, tracking_uri, store, **settings):
    outcome = asyncio.run(run_turn(TurnRequest(conversation, message, Settings(tracking_uri=tracking_uri, **settings), store)))
    assert outcome.status in ("ok", "waiting"), outcome.error
    return outcome


def said(outcome, name: str) -> list[str]:
    return [e["text"] for e in outcome.entries if e.get("name") == name and e["role"] == "assistant"]


# --- who speaks next -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "message, speaker, rule",
    [
        (TextMessage(source="user", content="What's the weather?"), "planner", "your new message goes to the planner"),
        (TextMessage(source="user", content="Lehi"), "planner", "your new message goes to the planner"),
        (
            TextMessage(source="planner", content="weather_assistant: please get the current weather for Lehi."),
            "weather_assistant",
            "a weather question naming a known city goes to the weather assistant",
        ),
        (TextMessage(source="weather_assistant", content="Lehi: 20 °C"), "planner", "the weather assistant reports back to the planner"),
        (TextMessage(source="planner", content="weather_assistant: please get the current weather for Zzyzx."), None, None),
        (TextMessage(source="planner", content="Let me think about Paris."), None, None),
        (HandoffMessage(source="planner", target="user", content="Which city, weather-wise?"), None, None),
    ],
)
def test_speaker_rules_first_and_the_model_when_none_applies(message, speaker, rule):
    select = weather_speakers.WeatherSpeakerSelector()
    assert select([TextMessage(source="user", content="earlier"), message]) == speaker
    assert select.reason(speaker or "") == (f"rule: {rule}" if rule else weather_speakers.BY_MODEL)


def test_the_model_chooses_when_no_rule_does_and_the_chat_says_so(tracking_uri, store):
    outcome = turn(weather_chat(), "What's the weather in Zzyzx?", tracking_uri, store)
    reasons = {e["name"]: e.get("why") for e in outcome.entries if e["role"] == "assistant"}
    assert reasons["weather_assistant"] == weather_speakers.BY_MODEL  # Zzyzx is no known city: no rule decides
    assert "Zzyzx" in said(outcome, "planner")[-1]


# --- hand-off and resume -------------------------------------------------------------------------------------------


def test_missing_city_hands_off_to_the_user_and_the_saved_state_resumes(tracking_uri, store):
    first = turn(weather_chat(), "What's the weather?", tracking_uri, store)
    assert first.status == "waiting"
    assert first.entries[-1]["asks_user"] and "Which city" in first.entries[-1]["text"]
    handoff = [sp for sp in store.client.get_trace(first.trace_id).data.spans if sp.span_type == "TOOL"]
    assert [(sp.name, sp.inputs) for sp in handoff] == [("ask_user", {"question": "Which city should I check the weather for?"})]
    # the state is plain JSON; a new team (new clients, new loop) picks it up from the store
    state = json.loads(json.dumps(first.conversation.state))
    reopened = store.load(first.conversation.id)
    assert reopened.state == state and reopened.transcript[-1]["asks_user"]
    second = turn(reopened, "Lehi", tracking_uri, store)
    assert second.status == "ok"
    expected = asyncio.run(weather.OfflineWeather().current("Lehi")).sentence()
    assert expected in said(second, "planner")[-1]
    tool = [e for e in second.entries if e["role"] == "tool"]
    assert len(tool) == 1 and tool[0]["text"].startswith('get_weather(city="Lehi")') and not tool[0]["is_error"]
    assert store.recent()[0].waiting is False and store.load(reopened.id).turns == 2


def test_hand_off_and_resume_over_the_openai_api(tracking_uri, store):
    with OpenAIStub() as server:
        settings = dict(
            provider="openai",
            api_key="sk-test-weather",
            base_url=server.base_url,
            chat_model="gpt-4o-mini",
            vision_model="gpt-4o-mini",
            max_retries=0,
        )
        conversation = Conversation(scenario=weather_scenario.KEY, session_id="s", provider="openai", options={"weather_source": "offline"})
        first = turn(conversation, "What's the weather?", tracking_uri, store, **settings)
        assert first.status == "waiting" and first.entries[-1]["text"] == "Which city?"
        second = turn(store.load(first.conversation.id), "Lehi", tracking_uri, store, **settings)
        assert second.status == "ok"
        assert "Lehi" in said(second, "planner")[-1] and "°C" in said(second, "planner")[-1]
        tools_sent = server.requests_to("/chat/completions")[0].body.get("tools") or []
        assert "transfer_to_user" in {t["function"]["name"] for t in tools_sent}


def test_each_turn_is_one_trace_with_agent_and_tool_spans(tracking_uri, store, mlflow_client):
    outcome = turn(weather_chat(), "What's the weather in Paris?", tracking_uri, store)
    found = mlflow_client.search_traces(locations=[store.experiment_id])
    assert [t.info.trace_id for t in found] == [outcome.trace_id]
    spans = found[0].data.spans
    agent_spans = [s.name for s in spans if s.span_type == "AGENT" and s.parent_id]
    assert agent_spans.count("planner") == 2 and agent_spans.count("weather_assistant") == 1
    tool_spans = [s for s in spans if s.span_type == "TOOL"]
    assert [s.name for s in tool_spans] == ["get_weather"] and tool_spans[0].inputs == {"city": "Paris"}
    parent = {s.span_id: s for s in spans}[tool_spans[0].parent_id]
    assert parent.name == "weather_assistant"


# --- weather sources -------------------------------------------------------------------------------------------------


def test_offline_source_is_deterministic_and_answers_any_city():
    source = weather.OfflineWeather()
    first = asyncio.run(source.current("Lehi"))
    assert first == asyncio.run(weather.OfflineWeather().current("  lehi "))
    assert asyncio.run(source.current("Paris")) != first
    assert asyncio.run(source.current("Zzyzx")).city == "Zzyzx"


class FakeOpenMeteo(BaseHTTPRequestHandler):
    """Open-Meteo's geocoding and forecast endpoints on loopback, with a mode per test."""

    mode = "ok"

    def log_message(self, *args):
        pass

    def do_GET(self):
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        if self.mode == "slow":
            time.sleep(1.0)
        if self.mode == "500":
            self.send_response(500)
            self.end_headers()
            return
        if url.path == "/search":
            name = query["name"][0]
            body = {
                "results": []
                if name == "Nowhere"
                else [{"name": name, "country": "United States", "latitude": 40.39, "longitude": -111.85}]
            }
        else:
            body = {"current": {"temperature_2m": 18.4, "weather_code": 2, "wind_speed_10m": 11.0}}
        raw = b"{not json" if self.mode == "garbage" else json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


@pytest.fixture()
def open_meteo():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeOpenMeteo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    yield lambda timeout_s=5.0: weather.OpenMeteoWeather(
        timeout_s=timeout_s, geocoding_url=f"{base}/search", forecast_url=f"{base}/forecast"
    )
    FakeOpenMeteo.mode = "ok"
    server.shutdown()


@pytest.mark.parametrize(
    "mode, city, expected",
    [
        ("ok", "Lehi", "Lehi, United States: 18 °C, partly cloudy, wind 11 km/h (source: Open-Meteo)."),
        ("ok", "Nowhere", "ERROR: could not get the weather for Nowhere: no place called 'Nowhere' was found."),
        ("500", "Lehi", "ERROR: could not get the weather for Lehi: the weather service answered HTTP 500."),
        ("garbage", "Lehi", "ERROR: could not get the weather for Lehi: the weather service sent an answer that could not be read."),
        ("slow", "Lehi", "ERROR: could not get the weather for Lehi: the weather service did not answer within 0.3 s."),
    ],
)
def test_open_meteo_answers_and_every_failure_is_a_line_for_the_agents(open_meteo, mode, city, expected):
    FakeOpenMeteo.mode = mode
    get_weather = weather.weather_function(open_meteo(timeout_s=0.3), timeout_s=5)
    assert asyncio.run(get_weather(city=city)) == expected


def test_a_failing_or_slow_source_is_explained_and_the_chat_goes_on(tracking_uri, store, mlflow_client, open_meteo, monkeypatch):
    FakeOpenMeteo.mode = "500"
    monkeypatch.setattr(weather_scenario, "weather_source_for", lambda options, clients: open_meteo())
    failed = turn(weather_chat(), "What's the weather in Oslo?", tracking_uri, store)
    assert failed.status == "ok"
    assert [e["is_error"] for e in failed.entries if e["role"] == "tool"] == [True]
    assert "HTTP 500" in said(failed, "planner")[-1] and "try again" in said(failed, "planner")[-1]
    trace = mlflow_client.get_trace(failed.trace_id)
    assert trace.info.state.value == "OK"  # the turn recovered; the tool span records the failure
    assert [s.status.status_code.value for s in trace.data.spans if s.span_type == "TOOL"] == ["ERROR"]

    monkeypatch.setattr(weather_scenario, "weather_source_for", lambda options, clients: weather.OfflineWeather(delay_s=5))
    conversation = failed.conversation
    conversation.options["weather_timeout_s"] = 0.5
    started = time.monotonic()
    slow = turn(conversation, "And in Rome, what's the weather?", tracking_uri, store)
    assert time.monotonic() - started < 4, "the tool call timed out instead of waiting for the source"
    assert "did not arrive within" in said(slow, "planner")[-1]
