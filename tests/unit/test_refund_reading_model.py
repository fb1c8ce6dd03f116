"""The reading's types: timing windows, validity periods and the labels an operator sees."""

from __future__ import annotations

from datetime import date

from llm_worker.refund.reading import Context, Scope, Topic, Validity, Window


def test_window_boundaries() -> None:
    assert Window(min_hours=168).contains(168)
    assert not Window(max_hours=168).contains(168)
    assert Window(48, 168).contains(100)
    assert not Window(48, 168).contains(20)


def test_window_descriptions() -> None:
    assert Window(min_hours=168).describe() == "at least 7 days before departure"
    assert Window(max_hours=24).describe() == "less than 24 hours before departure"
    assert Window(48, 168).describe() == "2 days to 7 days before departure"
    assert Window().describe() == "any time"


def test_validity_covers_its_dates_inclusively() -> None:
    after = Validity("FOR TICKETING ON/AFTER 01APR 17", on_or_after=date(2017, 4, 1))
    assert after.covers(date(2017, 4, 1)) and not after.covers(date(2017, 3, 31))
    before = Validity("FOR TICKETS ISSUED ON/BEFORE 31MAY22", on_or_before=date(2022, 5, 31))
    assert before.covers(date(2022, 5, 31)) and not before.covers(date(2022, 6, 1))


def test_context_labels() -> None:
    assert Context().label() == "TEXT"
    label = Context(
        topic=Topic.CHANGE, scope=Scope.ANY_TIME, headed=True, note=True, general=True,
        qualifier="FOR SAVER FARES",
    ).label()  # fmt: skip
    assert label == "GENERAL RULE / FOR SAVER FARES / CHANGE / ANY TIME / NOTE"
    timed = Context(headed=True, window=Window(max_hours=24), scope=Scope.BEFORE_DEPARTURE)
    assert timed.label() == "REFUND / LESS THAN 24 HOURS BEFORE DEPARTURE"
