"""Who sees what on the Models page of a hosted demo, as core decides it (issue 29; the page in Chromium:
tests/browser/test_models_privacy.py), and what a trace is (contract.kind_of), old traces included."""

from __future__ import annotations

from core import contract, hosted
from core.config import HostedLimits
from core.identity import Visitor
from core.mlflow_model.registry import VersionRow

LIMITS = HostedLimits()
V1 = Visitor(owner="a" * 32)


def test_evaluations_and_peoples_names_are_the_admins_in_a_hosted_demo():
    assert not hosted.sees_evaluations(LIMITS, is_admin=False) and not hosted.sees_people(LIMITS, is_admin=False)
    assert hosted.sees_evaluations(LIMITS, is_admin=True) and hosted.sees_people(LIMITS, is_admin=True)
    assert hosted.sees_evaluations(None, is_admin=False) and hosted.sees_people(None, is_admin=False), "one's own machine"


def test_a_prediction_is_the_visitors_own_trace_and_defused_when_hosted():
    asked = hosted.asker(LIMITS, V1)
    assert (asked.session, asked.kind, asked.defuse_markup) == (V1.owner, contract.TraceKind.PREDICTION, True)
    assert hosted.asker(None, V1).defuse_markup is False


def test_a_version_without_people_keeps_when_and_which_alias():
    row = VersionRow(
        1, ("champion",), 0, "root", "r", "demo", "1", "READY", promoted={"champion": "admin@example.com at 2026-12-05 13:00 UTC"}
    )
    shown = row.without_people()
    assert shown.user == "" and shown.promoted == {"champion": "at 2026-12-05 13:00 UTC"}
    assert "admin@example.com" not in repr(shown) and "root" not in repr(shown)


def test_what_a_trace_is_by_its_kind_and_for_older_traces_by_session_and_scenario():
    assert contract.kind_of({contract.TraceTag.KIND: contract.TraceKind.EVALUATION}) == contract.TraceKind.EVALUATION
    assert contract.kind_of({contract.TraceTag.KIND: contract.TraceKind.CHAT}, contract.TraceKind.PREDICTION_SESSION) == contract.TraceKind.CHAT
    assert contract.kind_of({}, contract.TraceKind.PREDICTION_SESSION) == contract.TraceKind.PREDICTION
    assert contract.kind_of({contract.RunTag.SCENARIO: "team:calc@model"}) == contract.TraceKind.PREDICTION
    assert contract.kind_of({contract.RunTag.SCENARIO: "catify"}, "b" * 32) == contract.TraceKind.CHAT
