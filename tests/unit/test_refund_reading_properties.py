"""The rules reader on fee statements built from their parts (tests/fare_statements.py): the
decision is the one the contract gives for the parts, worked out without the reader's code;
and metamorphic checks: what must not change a reading does not, what it cannot read makes it
unsure, never another automatic number."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llm_worker.refund.models import Decision
from llm_worker.refund.policy import RuleResult, decide_by_text
from llm_worker.refund.reading import read_fare_rules
from tests.fare_statements import (
    HEADINGS,
    LANGUAGES,
    UNREAD_QUALIFIERS,
    Charge,
    Scenario,
    charges,
    no_show_scenarios,
    scenarios,
)

# The languages the reader reads fee statements in; in the others it must stay unsure.
READS = ("en",)
_SETTINGS = settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


def _decided(s: Scenario) -> tuple[Decision, Decimal | None]:
    result = _rules(s)
    return result.decision, result.penalty if result.decision is Decision.WITH_PENALTY else None


def _rules(s: Scenario) -> RuleResult:
    return decide_by_text(s.case(), read_fare_rules(s.text()))


@_SETTINGS
@given(scenarios(languages=READS))
def test_the_decision_is_the_one_the_parts_give(s: Scenario) -> None:
    assert _decided(s) == s.expected, s.text()


@_SETTINGS
@given(no_show_scenarios(languages=READS))
def test_a_no_show_takes_the_no_show_fee_only_where_nothing_else_may_apply(s: Scenario) -> None:
    assert _decided(s) == s.expected, s.text()


@_SETTINGS
@given(scenarios(languages=tuple(lang for lang in LANGUAGES if lang not in READS)))
def test_a_language_the_reader_does_not_read_is_never_decided_automatically(s: Scenario) -> None:
    # ("BILLET NON REMBOURSABLE" alone is read: a sure MANUAL.)
    assert _rules(s).decision is Decision.MANUAL, s.text()


@_SETTINGS
@given(scenarios(), st.data())
def test_an_unread_qualifier_never_gives_another_automatic_number(
    s: Scenario, data: st.DataObject
) -> None:
    qualifier = data.draw(st.sampled_from(UNREAD_QUALIFIERS[s.rules.language]))
    qualified = s.with_rules(extra=qualifier)
    result = _rules(qualified)
    if isinstance(s.rules.applying(s.request)[1], Charge):
        assert result.decision is Decision.MANUAL, qualified.text()
        if s.rules.language in READS:
            assert not result.sure or result.doubtful, qualified.text()


@_SETTINGS
@given(scenarios(languages=READS), st.sampled_from(HEADINGS))
def test_another_heading_form_reads_the_same(s: Scenario, heading: str) -> None:
    assert _decided(s.with_rules(heading=heading)) == _decided(s)


@_SETTINGS
@given(scenarios(languages=READS), st.integers(60, 80))  # GDS displays wrap at 63 to 80
def test_wrapped_lines_read_the_same(s: Scenario, width: int) -> None:
    assert _decided(s.with_rules(width=width)) == _decided(s), s.with_rules(width=width).text()


@_SETTINGS
@given(
    scenarios(languages=READS),
    charges(kinds=("amount", "percent"), pers=(None, "ticket"), up_to=False),
    st.booleans(),
)
def test_a_change_fee_beside_changes_nothing(s: Scenario, change: Charge, first: bool) -> None:
    beside = s.with_rules(change=change, change_first=first, provision_heading=True)
    alone = s.with_rules(change=None, provision_heading=True)
    assert _decided(beside) == _decided(alone), beside.text()


@_SETTINGS
@given(scenarios(languages=READS, banded=True))
def test_bands_laid_out_inline_or_under_headings_read_the_same(s: Scenario) -> None:
    inline = replace(s, rules=replace(s.rules, inline_bands=True))
    headed = replace(s, rules=replace(s.rules, inline_bands=False))
    assert _decided(inline) == _decided(headed) == s.expected, headed.text()
