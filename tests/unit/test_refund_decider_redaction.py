"""What reaches the LLM: no personal data from invented e-tickets and booking pages in the fake
LLM's recorded requests, a fare rule without any sent unchanged, quotes checked against the
text the model was sent, redactions counted by kind in the metric and audit line, and shown
by `explain` without their values."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import REGISTRY

from llm_worker.config import Settings, load_settings
from llm_worker.handlers.fare_rules import build_decider, make_fare_rules_handler
from llm_worker.runtime.task import Task
from tests.fakes.llm import Answer, FakeLLM
from tests.fakes.task import completed_values, fare_rules_task
from tests.unit.test_privacy_redaction import (
    BOOKING_PAGE,
    BOOKING_PERSONAL,
    E_TICKET,
    E_TICKET_PERSONAL,
    FARE_RULE,
)

KEY = "sk-test-redaction-91ab"


@pytest.fixture
def llm() -> Iterator[FakeLLM]:
    with FakeLLM() as fake:
        yield fake


def settings(llm: FakeLLM, **over: Any) -> Settings:
    values: dict[str, Any] = {
        "openai_api_key": KEY,
        "openai_base_url": llm.base_url,
        "decision_strategy": "llm",
        "llm_timeout_s": 2,
        "llm_max_retries": 0,
    }
    return load_settings(**(values | over))


def task(rules: str, booking: str = "PNR-R1") -> Task:
    return fare_rules_task(rules, booking=booking, ticket_price=1250.0)


def sent(llm: FakeLLM) -> str:
    """Everything the LLM received, every message of every request."""
    return "\n".join(json.dumps(r.body, ensure_ascii=False) for r in llm.chat_requests())


@pytest.mark.parametrize(
    ("text", "personal"), [(E_TICKET, E_TICKET_PERSONAL), (BOOKING_PAGE, BOOKING_PERSONAL)]
)
def test_nothing_personal_reaches_the_llm(llm: FakeLLM, text: str, personal: list[str]) -> None:
    completed_values(make_fare_rules_handler(settings(llm))(task(text)))
    body = sent(llm)
    assert llm.chat_requests()
    for value in personal:
        assert json.dumps(value, ensure_ascii=False).strip('"') not in body, value
    assert "[NAME]" in body


def test_a_fare_rule_without_personal_data_is_sent_unchanged(llm: FakeLLM) -> None:
    completed_values(make_fare_rules_handler(settings(llm))(task(FARE_RULE)))
    user = json.loads(llm.chat_requests()[0].content("user").split("\n", 1)[1])
    assert user["fare_rules"] == FARE_RULE


def test_llm_redact_false_sends_the_text_as_it_is(llm: FakeLLM) -> None:
    completed_values(make_fare_rules_handler(settings(llm, llm_redact=False))(task(E_TICKET)))
    user = json.loads(llm.chat_requests()[0].content("user").split("\n", 1)[1])
    assert user["fare_rules"] == E_TICKET


ITALIAN = "Rimborso per Mr Mario Rossi con penale di 80 USD."


def test_quotes_are_checked_against_the_text_the_model_was_sent(llm: FakeLLM) -> None:
    """The model can only quote what it saw: its quote with the placeholder is the fare rule;
    without redaction the same quote is not in the text and the guardrail stops it."""
    answer = Answer(decision="WITH_PENALTY", penalty_amount=80, penalty_currency="USD",
                    rule_text="Rimborso per [NAME] con penale di 80 USD.")  # fmt: skip
    llm.script(answer)
    out = completed_values(make_fare_rules_handler(settings(llm))(task(ITALIAN)))
    assert out["fareRuleCheck"] == "WITH_PENALTY" and out["penaltyAmount"] == 80.0
    assert "Mario" not in sent(llm)
    llm.script(answer)
    unredacted = completed_values(
        make_fare_rules_handler(settings(llm, llm_redact=False))(task(ITALIAN))
    )
    assert unredacted["fareRuleCheck"] == "MANUAL"
    assert "the rule quoted for the fee is not in the fare rules" in unredacted["llmReasoning"]


def test_redactions_are_counted_by_kind_never_by_value(
    llm: FakeLLM, log_output: io.StringIO
) -> None:
    def count(kind: str) -> float:
        return REGISTRY.get_sample_value("llm_worker_redactions_total", {"kind": kind}) or 0.0

    before = {kind: count(kind) for kind in ("NAME", "TICKET", "CARD")}
    completed_values(make_fare_rules_handler(settings(llm))(task(E_TICKET, booking="PNR-COUNT")))
    assert count("NAME") == before["NAME"] + 3
    assert count("TICKET") == before["TICKET"] + 2
    assert count("CARD") == before["CARD"] + 1
    lines = [json.loads(line) for line in log_output.getvalue().splitlines()]
    audit = next(line for line in lines if line.get("event") == "refund decision")
    assert audit["redactions"] == {
        "BOOKING": 1, "CARD": 1, "DOCUMENT": 1, "EMAIL": 1, "NAME": 3, "PHONE": 2, "TICKET": 2,
    }  # fmt: skip
    log = log_output.getvalue()
    for value in E_TICKET_PERSONAL:
        assert value not in log, value


def test_explain_shows_kinds_and_positions_without_values(llm: FakeLLM) -> None:
    decider = build_decider(settings(llm))
    from llm_worker.commands.decide import to_variables

    variables = to_variables({"bookingId": "X1", "fareRules": E_TICKET, "currency": "USD",
                              "ticketPrice": 1250.0})  # fmt: skip
    text = decider.explain(variables)
    assert "replaced whenever the text goes to an LLM (BOOKING 1, CARD 1, DOCUMENT 1" in text
    assert "NAME at line 2, column 7 (13 chars) -> [NAME]" in text
    for value in E_TICKET_PERSONAL:
        assert value not in text.split("personal data replaced")[1], value
    assert "the LLM would see the text unchanged" in decider.explain(
        to_variables({"bookingId": "X2", "fareRules": FARE_RULE})
    )
    assert "LLM_REDACT=false" in build_decider(settings(llm, llm_redact=False)).explain(variables)
    assert "strategy rules" in build_decider(Settings()).explain(variables)
