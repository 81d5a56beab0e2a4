"""Hosted-demo limits in core: the bound on a turn's cost, spend caps per visitor and per day on the owner's key
(kept in the spend ledger, core.ledger: tests/test_spend_ledger.py and tests/test_ledger_burst.py test it across
processes), turns per minute; and, against the local OpenAI-compatible server, a $0.05 cap that refuses the turn
that would pass it before any call is made, and a settlement that counts every paid item."""

from __future__ import annotations

import uuid

import pytest

from core import costs, hosted, identity
from core.config import IMAGE_QUALITIES, IMAGE_SIZES, HostedLimits, Settings
from core.conversations import Conversation
from core.costs import image_price_usd
from core.errors import InputError, TurnRefused
from core.turn import Admission, TurnHandle, TurnRequest
from tests.openai_server import IMAGE_OUTPUT_TOKENS, OpenAIStub

pytestmark = pytest.mark.filterwarnings("ignore:Resolved model mismatch:UserWarning")
LIMITS = HostedLimits(session_cap_usd=0.05, daily_cap_usd=1.0, turns_per_minute=6, owner_key=True)


def openai(server: OpenAIStub | None = None, **changes) -> Settings:
    base = dict(
        provider="openai",
        api_key="sk-owner-test",
        base_url=server.base_url if server else "",
        chat_model="gpt-4o-mini",
        vision_model="gpt-4o-mini",
        image_model="gpt-image-1",
        image_size="1024x1024",
        image_quality="low",
        max_output_tokens=400,
        max_retries=0,
    )
    return Settings(**{**base, **changes})


def test_the_bound_covers_pictures_and_capped_model_calls():
    assert hosted.max_turn_cost("catify", {"iterations": 2}, Settings(), "a cat") == 0.0  # demo: free
    bound = hosted.max_turn_cost("catify", {"iterations": 2}, openai(), "a cat")
    assert 3 * image_price_usd("gpt-image-1", "low", "1024x1024") < bound < 0.05
    # text a visitor writes into the options joins every model call: it raises the bound
    long_instruction = {"iterations": 2, "instruction": "cats " * 400}
    assert hosted.max_turn_cost("catify", long_instruction, openai(), "a cat") > bound
    with pytest.raises(InputError, match="instruction has 20,000 characters"):
        hosted.check_options("catify", {"instruction": "cats " * 4000})
    emoji = hosted.max_turn_cost("analyst", {"report": "📈" * 10_000}, openai(), "q")
    assert emoji > hosted.max_turn_cost("analyst", {"report": "x" * 10_000}, openai(), "q"), "bytes, not characters"
    weather = hosted.max_turn_cost("weather", {}, openai(), "What's the weather?", history_chars=5_000)
    assert 0 < weather < hosted.max_turn_cost("weather", {}, openai(), "x", history_chars=500_000)
    report = {"report": "word " * 20_000}
    assert hosted.max_turn_cost("analyst", report, openai(), "q") > hosted.max_turn_cost("analyst", {}, openai(), "q")
    assert hosted.max_turn_cost("catify", {}, openai(chat_model="no-such-model", vision_model="no-such-model"), "a cat") is None


def test_caps_apply_to_the_owners_key_and_rate_limits_to_everyone():
    ledger = hosted.SpendGate()
    first = ledger.admit("alice", LIMITS, 0.03, uses_owner_key=True, now=1000)
    first.settle(0.02, now=1001)
    assert ledger.spent("alice", now=1000) == (0.02, 0.02)
    with pytest.raises(hosted.TurnRefused, match=r"could cost up to \$0.0400.*\$0.0300 left of your \$0.05 cap"):
        ledger.admit("alice", LIMITS, 0.04, uses_owner_key=True, now=1001)
    ledger.admit("alice", LIMITS, 0.04, uses_owner_key=False, now=1002).settle(0.04, now=1002)  # her own key: no cap
    ledger.admit("bob", LIMITS, 0.04, uses_owner_key=True, now=1003)  # another visitor: his own cap
    with pytest.raises(hosted.TurnRefused, match="cannot be bounded"):
        ledger.admit("carol", LIMITS, None, uses_owner_key=True, now=1004)
    for i in range(6):
        ledger.admit("dave", LIMITS, 0.0, uses_owner_key=False, now=2000 + i)
    with pytest.raises(hosted.TurnRefused, match="6 turns a minute.*Try again in 55 s"):
        ledger.admit("dave", LIMITS, 0.0, uses_owner_key=False, now=2006)
    ledger.admit("dave", LIMITS, 0.0, uses_owner_key=False, now=2061)


def test_the_daily_cap_counts_every_visitor_and_other_instances(tmp_path):
    limits = HostedLimits(session_cap_usd=0.05, daily_cap_usd=0.06, owner_key=True)
    ledger = hosted.SpendGate()
    ledger.admit("a", limits, 0.04, uses_owner_key=True, now=5000).settle(0.04, now=5000)
    with pytest.raises(hosted.TurnRefused, match=r"spent its \$0.06 budget for today"):
        ledger.admit("b", limits, 0.03, uses_owner_key=True, now=5001)
    shared = f"sqlite:///{tmp_path / 'mlflow.db'}"  # two instances on one store
    hosted.SpendGate(shared).admit("a", limits, 0.05, uses_owner_key=True, now=5000).settle(0.05, now=5000)
    with pytest.raises(hosted.TurnRefused, match="budget for today"):
        hosted.SpendGate(shared).admit("c", limits, 0.02, uses_owner_key=True, now=5002)


def test_a_005_cap_refuses_the_catify_turn_that_would_pass_it(tracking_uri, store):
    with OpenAIStub() as server:
        # a server that reports no picture usage: pictures at our per-picture price, their prompts' tokens settled
        # apart (a gpt-image picture priced from its usage has them in its price: the test after this one)
        server.image_usage = False
        settings = openai(server, tracking_uri=tracking_uri)
        ledger = hosted.SpendGate(tracking_uri)  # in the tracking database, as a hosted app keeps it
        visitor = f"visitor-{uuid.uuid4().hex}"
        conversation = Conversation(scenario="catify", session_id=visitor, provider="openai", options={"iterations": 2})
        bound = hosted.max_turn_cost("catify", conversation.options, settings, "a cat")
        reservation = ledger.admit(visitor, LIMITS, bound, uses_owner_key=True)
        assert ledger.spent(visitor)[0] == pytest.approx(bound), "reserved before anything is sent"
        outcome = (
            TurnHandle(Admission(TurnRequest(conversation, "a cat", settings.with_(billed_to_owner=True), store), reservation=reservation))
            .start()
            .wait(60)
        )
        assert outcome.status == "ok", outcome.error
        assert 3 * 0.011 <= outcome.cost_usd < bound
        # settled at every paid item: the pictures, the critic's tokens, and the pictures' prompt tokens, which the
        # per-picture price leaves out and no trace records
        prompts = [str(e["prompt"]) for e in outcome.conversation.image_lookup.values()]
        assert len(prompts) == 3
        prompt_usd = sum(costs.picture_prompt_usd(settings, 1, costs.tokens_for(p)) for p in prompts)
        assert prompt_usd > 0 and outcome.billed_usd == pytest.approx(outcome.cost_usd + prompt_usd)
        assert ledger.spent(visitor)[0] == pytest.approx(outcome.billed_usd, abs=1e-9)
        assert outcome.billed_usd < bound
        tags = store.client.get_trace(outcome.trace_id).info.tags
        assert tags["app.billing"] == "owner", "the trace says who paid"
        calls_before = len(server.requests)
        with pytest.raises(hosted.TurnRefused, match=r"\$0.05 cap"):
            ledger.admit(visitor, LIMITS, hosted.max_turn_cost("catify", conversation.options, settings, "again"), uses_owner_key=True)
        assert len(server.requests) == calls_before, "nothing was sent for the refused turn"
        assert store.load(outcome.conversation.id).turns == 1


def catify_bound(settings: Settings, message: str, iterations: int) -> float:
    bound = hosted.max_turn_cost("catify", {"iterations": iterations}, settings, message)
    assert bound is not None
    return bound


@pytest.mark.parametrize("quality", IMAGE_QUALITIES["gpt-image-1"])
@pytest.mark.parametrize("size", IMAGE_SIZES["gpt-image-1"])
def test_a_pictures_bound_covers_its_price_by_tokens_and_by_the_table(size, quality):
    """Per picture, the bound takes the larger of the image output tokens' price (the catalog's rates; the most a
    picture of that size and quality writes, as the stub reports it from OpenAI's table) and our per-picture price,
    with the prompt's text tokens apart: it stays an upper bound whichever way the picture is priced. On the table
    alone, portrait low (408 tokens, $0.01632 > $0.016) and medium ($0.06336 > $0.063) and square medium would pass it."""
    settings = openai(image_size=size, image_quality=quality)
    text_tokens = costs.tokens_for("a cat in a hat")
    by_tokens = costs.picture_price("gpt-image-1", quality, size, costs.PictureUsage(text_tokens, 0, IMAGE_OUTPUT_TOKENS[(quality, size)]))
    by_table = image_price_usd("gpt-image-1", quality, size)
    assert by_tokens.from_tokens and by_tokens.usd is not None and by_table is not None
    bound = costs.picture_bound(settings)
    assert bound is not None
    prompt = costs.picture_prompt_usd(settings, 1, text_tokens)
    assert bound + prompt >= by_tokens.usd - 1e-15, f"{quality} {size}: bound {bound + prompt} < priced {by_tokens.usd}"
    assert bound + prompt >= by_table + prompt
    assert bound == pytest.approx(max(by_table, by_tokens.usd - prompt), abs=1e-15), "no looser than it must be"
    # and the turn's bound counts it for every picture: n + 1 of them
    cheaper = openai(image_size=size, image_quality=quality, image_model="gpt-image-1-mini")
    assert catify_bound(settings, "a cat", 2) - catify_bound(cheaper, "a cat", 2) >= 3 * (bound - costs.picture_bound(cheaper)) - 1e-12


def test_a_turn_priced_from_picture_tokens_settles_at_its_trace_cost_within_its_bound(tracking_uri, store):
    """Portrait low, where a picture's tokens cost more than the per-picture table: the reservation settles at what
    the trace says (the prompts' tokens are in the pictures' price, not added again) and under the bound."""
    with OpenAIStub() as server:
        settings = openai(server, tracking_uri=tracking_uri, image_size="1024x1536")
        ledger = hosted.SpendGate(tracking_uri)
        visitor = f"visitor-{uuid.uuid4().hex}"
        conversation = Conversation(scenario="catify", session_id=visitor, provider="openai", options={"iterations": 2})
        bound = catify_bound(settings, "a cat", 2)
        roomy = HostedLimits(session_cap_usd=1.0, daily_cap_usd=1.0, turns_per_minute=6, owner_key=True)
        reservation = ledger.admit(visitor, roomy, bound, uses_owner_key=True)
        outcome = (
            TurnHandle(Admission(TurnRequest(conversation, "a cat", settings.with_(billed_to_owner=True), store), reservation=reservation))
            .start()
            .wait(60)
        )
        assert outcome.status == "ok", outcome.error
        lookup = outcome.conversation.image_lookup.values()
        assert len(lookup) == 3 and all(e["priced_from"] == "tokens" and e["cost_usd"] > 0.016 for e in lookup)
        trace_cost = store.client.get_trace(outcome.trace_id).info.cost["total_cost"]
        assert outcome.billed_usd == pytest.approx(outcome.cost_usd, abs=1e-12) == pytest.approx(trace_cost, abs=1e-9)
        assert ledger.spent(visitor)[0] == pytest.approx(outcome.billed_usd, abs=1e-9)
        assert outcome.billed_usd < bound


def test_admission_is_core_policy_and_refuses_before_anything_runs():
    """What the chat page asks before starting a turn, without Streamlit: None outside a hosted demo; the
    message, the options, the turns a minute and the caps otherwise, each refusal a sentence."""
    conversation = Conversation(scenario="catify", session_id="v", provider="openai", options={"iterations": 2})
    ledger = hosted.SpendGate()
    assert hosted.admit(hosted.Visit(ledger, "v", uses_owner_key=True), openai(), conversation, "a cat") is None  # not hosted
    limits = HostedLimits(session_cap_usd=0.05, daily_cap_usd=1.0, turns_per_minute=6, max_message_chars=50, owner_key=True)
    demo = openai(hosted=limits)
    with pytest.raises(InputError, match="messages of up to 50 characters; yours has 51"):
        hosted.admit(hosted.Visit(ledger, "v", uses_owner_key=True), demo, conversation, "x" * 51)
    long_instruction = Conversation(scenario="catify", session_id="v", provider="openai", options={"instruction": "cats " * 500})
    with pytest.raises(InputError, match="instruction has 2,500 characters"):
        hosted.admit(hosted.Visit(ledger, "v", uses_owner_key=True), demo, long_instruction, "a cat")
    reservation = hosted.admit(hosted.Visit(ledger, "v", uses_owner_key=True), demo, conversation, "a cat")
    assert reservation is not None and reservation.amount == pytest.approx(
        hosted.max_turn_cost("catify", conversation.options, demo, "a cat")
    )
    assert reservation.id is not None and ledger.spent("v")[0] == pytest.approx(reservation.amount)
    with pytest.raises(hosted.TurnRefused, match=r"\$0.05 cap"):
        hosted.admit(hosted.Visit(ledger, "v", uses_owner_key=True), demo, conversation, "a cat")
    own_key = hosted.admit(hosted.Visit(ledger, "v", uses_owner_key=False), demo, conversation, "a cat")
    assert own_key is not None and own_key.amount == 0.0 and own_key.id is None, "a visitor's own key: no reservation"


def test_who_may_see_what():
    limits = HostedLimits()
    assert hosted.visible_session(None, "visitor-1", is_admin=False) is None  # not hosted: everyone's
    assert hosted.visible_session(limits, "visitor-1", is_admin=False) == "visitor-1"
    assert hosted.visible_session(limits, "visitor-1", is_admin=True) is None
    assert hosted.may_open(None, "anyone") and hosted.may_open("visitor-1", "visitor-1")
    assert not hosted.may_open("visitor-1", "visitor-2") and not hosted.may_open("visitor-1", "")
    assert hosted.is_visitor(limits, is_admin=False) and not hosted.is_visitor(limits, is_admin=True)
    assert not hosted.is_visitor(None, is_admin=False)


def test_a_prediction_keeps_to_the_message_length_and_counts_with_the_turns_a_minute():
    limits = HostedLimits(turns_per_minute=2, max_message_chars=10)
    spend, alice = hosted.SpendGate(), identity.signed_in({"iss": "i", "sub": "alice"})
    with pytest.raises(InputError, match="up to 10 characters"):
        hosted.admit_prediction(spend, limits, alice, "a cat " * 5)
    hosted.admit_prediction(spend, limits, alice, "a cat")
    hosted.admit_prediction(spend, limits, alice, "a cat")
    with pytest.raises(TurnRefused, match="2 turns a minute per visitor"):
        hosted.admit_prediction(spend, limits, alice, "a cat")
    hosted.admit_prediction(spend, limits, identity.signed_in({"iss": "i", "sub": "bob"}), "a cat")  # his own
    hosted.admit_prediction(spend, None, alice, "a cat " * 50)  # not a hosted demo: no limits


def test_anonymous_visitors_count_per_browser_and_together_per_address():
    """An anonymous visitor's turns a minute count per browser, and every anonymous turn from one client address
    against a wider allowance that a reload, a new cookie or a script without one does not reset."""
    first, again = identity.anonymous("tab-1", "10.0.0.7"), identity.anonymous("tab-2", "10.0.0.7")
    assert first.owner != again.owner and first.address_key == again.address_key == "address:10.0.0.7"
    assert identity.anonymous("tab-3", None).address_key == "address:local"
    assert identity.signed_in({"iss": "i", "sub": "alice"}).address_key == "", "a person counts as a person"
    limits, spend = HostedLimits(turns_per_minute=1, turns_per_minute_per_address=2), hosted.SpendGate()
    spend.count_turns(hosted.rates(limits, first))
    with pytest.raises(TurnRefused, match="1 turns a minute per visitor"):
        spend.count_turns(hosted.rates(limits, first))
    spend.count_turns(hosted.rates(limits, again))  # another browser at that address: its own turn
    with pytest.raises(TurnRefused, match="2 turns a minute from one address"):
        spend.count_turns(hosted.rates(limits, identity.anonymous("tab-4", "10.0.0.7")))
    spend.count_turns(hosted.rates(limits, identity.anonymous("tab-5", "10.0.0.8")))
