"""Normalising a display: page markers, fare-quote headers and other categories go, category 16
stays, separators become paragraph breaks."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from llm_worker.refund.models import Decision
from llm_worker.refund.reading import Kind, read_fare_rules
from llm_worker.refund.reading.normalise import normalise
from tests.refund_cases import REQUEST, decide

# Amadeus writes its page marker at the right of an otherwise empty line, then a blank line.
AMADEUS_PAGE = " " * 50 + "PAGE  1/ 3\n \n"


def test_page_marker_lines_are_dropped_and_do_not_break_a_paragraph() -> None:
    lines, category = normalise(f"CANCELLATIONS\n  CHARGE USD 75 FOR\n{AMADEUS_PAGE}  REFUND.\n")
    assert lines == ["CANCELLATIONS", "  CHARGE USD 75 FOR", "  REFUND."]
    assert category is False


def test_a_sentence_split_by_an_amadeus_page_marker_is_read_whole() -> None:
    text = (
        "CANCELLATIONS\n  BEFORE DEPARTURE\n"
        "    CHARGE USD 100 FOR CANCEL/REFUND OF THE UNUSED TICKET\n"
        f"{AMADEUS_PAGE}    PER COUPON.\n"
    )
    (fee,) = read_fare_rules(text).statements
    assert fee.text.endswith("UNUSED TICKET PER COUPON")
    assert (fee.kind, fee.amount, fee.per.value) == (Kind.FEE, Decimal(100), "unit")
    result = decide(text)
    assert result.decision is Decision.MANUAL
    assert "per coupon" in result.reasoning


def test_a_page_marker_between_a_window_and_its_departure_word_keeps_the_window() -> None:
    text = (
        "CANCELLATIONS\n  BEFORE DEPARTURE\n"
        "    REFUND PERMITTED WITHOUT CHARGE UNTIL 72 HOURS BEFORE\n"
        f"{AMADEUS_PAGE}    DEPARTURE.\n"
        "    CHARGE USD 90 WITHIN 72 HOURS BEFORE DEPARTURE.\n"
    )
    assert decide(text).decision is Decision.ALLOWED
    late = decide(text, departure_date=REQUEST + timedelta(hours=20))
    assert (late.decision, late.penalty) == (Decision.WITH_PENALTY, Decimal(90))


def test_a_sentence_split_by_an_apollo_page_marker_is_read_whole() -> None:
    text = (
        "CANCELLATIONS\n  BEFORE DEPARTURE\n"
        "    CHARGE USD 100 FOR CANCEL/REFUND OF THE UNUSED TICKET\n"
        ")><\n    PER COUPON.\n"
    )
    (fee,) = read_fare_rules(text).statements
    assert fee.text.endswith("UNUSED TICKET PER COUPON")
    assert fee.per.value == "unit"


def test_an_apollo_page_marker_inside_a_free_refund_sentence_still_allows_it() -> None:
    text = (
        "CANCELLATIONS\n  BEFORE DEPARTURE\n"
        "    REFUND PERMITTED WITHOUT CHARGE UNTIL 72 HOURS BEFORE\n"
        ")><\n    DEPARTURE.\n"
        "    CHARGE USD 90 WITHIN 72 HOURS BEFORE DEPARTURE.\n"
    )
    assert decide(text).decision is Decision.ALLOWED


def test_an_apollo_marker_joins_a_line_that_goes_on_and_breaks_after_a_finished_one() -> None:
    goes_on, _ = normalise("CANCELLATIONS\n  CHARGE USD 75 FOR\n)><\n  REFUND.\n")
    assert goes_on == ["CANCELLATIONS", "  CHARGE USD 75 FOR", "  REFUND."]
    finished, _ = normalise(
        "CANCELLATIONS\n  TICKET IS NON-REFUNDABLE.\n)><\n  WAIVED FOR DEATH.\n"
    )
    assert finished == ["CANCELLATIONS", "  TICKET IS NON-REFUNDABLE.", "", "  WAIVED FOR DEATH."]
    last, _ = normalise("CANCELLATIONS\n  CHARGE USD 75 FOR REFUND\n><\n")
    assert last == ["CANCELLATIONS", "  CHARGE USD 75 FOR REFUND", ""]


def test_apollo_marker_alone_on_a_line_is_not_text() -> None:
    lines, _ = normalise("CANCELLATIONS\n)><\n  TICKET IS NON-REFUNDABLE.")
    assert ")><" not in " ".join(lines)
    assert [s.kind for s in read_fare_rules("CANCELLATIONS\n)><\nNON-REFUNDABLE.").statements] == [
        Kind.NON_REFUNDABLE
    ]


AMADEUS_FQN = (
    "FCL: YSAVEUS      PTC: ADT-ADULT       FTC: XEX\n"
    "RULES DISPLAY  NYC-LON  USD 640.00  YSAVEUS  EXP 30JUN\n"
    "LN FARE BASIS  OW   RT   B  PEN  DATES/DAYS  AP  MIN MAX\n"
    "01 YSAVEUS  USD 640.00  Y  -  -  -  -\n"
    "PE.PENALTIES\n"
    "  CANCELLATIONS\n"
    "    BEFORE DEPARTURE\n"
    "      CANCELLATIONS PERMITTED FOR A CHARGE OF USD 100.\n"
)


def test_amadeus_fqn_header_lines_are_not_read() -> None:
    lines, category = normalise(AMADEUS_FQN)
    assert category is True
    assert not any("640" in line or "FCL:" in line for line in lines)


def test_fare_amounts_in_an_amadeus_header_are_never_fees() -> None:
    reading = read_fare_rules(AMADEUS_FQN)
    assert [(s.kind, s.amount) for s in reading.statements] == [(Kind.FEE, Decimal(100))]
    assert reading.penalties_category
    result = decide(AMADEUS_FQN)
    assert (result.decision, result.penalty) == (Decision.WITH_PENALTY, Decimal(100))


SABRE_QUOTE = (
    "USD 412.00  KSAVER  OW  ECONOMY  TRAVEL 01MAR-30NOV\n"
    "V  USD 412.00  BK K  RT  MIN/MAX  -/12M\n"
    "16.PENALTIES\n"
    "CANCELLATIONS\n"
    "  CHARGE USD 60 FOR CANCEL/REFUND.\n"
)


def test_sabre_fare_quote_lines_before_16_penalties_are_not_fees() -> None:
    lines, category = normalise(SABRE_QUOTE)
    assert category is True
    assert lines[0] == "CANCELLATIONS"
    result = decide(SABRE_QUOTE)
    assert (result.decision, result.penalty) == (Decision.WITH_PENALTY, Decimal(60))


SEVERAL_CATEGORIES = (
    "01.ELIGIBILITY\n  NO ELIGIBILITY REQUIREMENTS.\n"
    "06.MINIMUM STAY\n  NO MINIMUM STAY. FARE USD 999 FOR STAY.\n"
    "16.PENALTIES\n  CANCELLATIONS\n    REFUNDABLE WITHOUT CHARGE.\n"
    "19.CHILDREN DISCOUNTS\n  CHILD 2-11 CHARGE 75 PERCENT OF FARE.\n"
    "31.VOLUNTARY CHANGES\n  CHARGE USD 80 FOR REISSUE.\n"
)


def test_only_category_16_is_kept_when_a_text_holds_several() -> None:
    lines, category = normalise(SEVERAL_CATEGORIES)
    assert category is True
    text = " ".join(lines)
    assert "REFUNDABLE WITHOUT CHARGE" in text
    for other in ("ELIGIBILITY", "999", "CHILD", "REISSUE"):
        assert other not in text


def test_only_category_16_decides_when_a_text_holds_several() -> None:
    assert [s.kind for s in read_fare_rules(SEVERAL_CATEGORIES).statements] == [Kind.FREE]
    assert decide(SEVERAL_CATEGORIES).decision is Decision.ALLOWED


def test_the_fare_a_penalties_heading_names_is_kept() -> None:
    lines, _ = normalise("PE.PENALTIES FOR ECONOMY FARES\n  CANCELLATIONS\n  NON-REFUNDABLE.\n")
    assert lines[0] == "FOR ECONOMY FARES"


def test_a_text_of_other_categories_only_has_nothing_to_read() -> None:
    text = "06.MINIMUM STAY\n  SATURDAY NIGHT.\n07.MAXIMUM STAY\n  12 MONTHS.\n"
    assert normalise(text) == ([], False)
    result = decide(text)
    assert (result.decision, result.step) == (Decision.MANUAL, 8)


def test_a_bare_penalties_heading_among_other_categories_starts_category_16() -> None:
    text = "05.ADVANCE RES\n  14 DAYS.\nPENALTIES:\n  CHARGE USD 40 FOR CANCEL/REFUND.\n"
    lines, category = normalise(text)
    assert category is True
    assert "14 DAYS" not in " ".join(lines)
    assert decide(text).penalty == Decimal(40)


def test_a_bare_category_16_text_or_prose_is_kept_whole() -> None:
    lines, category = normalise("Refunds are possible.\nA fee of USD 30 applies.")
    assert lines == ["REFUNDS ARE POSSIBLE.", "A FEE OF USD 30 APPLIES."]
    assert category is False


def test_separators_tags_and_inline_notes_become_breaks() -> None:
    lines, _ = normalise(
        "CANCELLATIONS<br>CHARGE USD 50.\n-----------\nNON-REFUNDABLE AFTER DEPARTURE.\n"
        "FOR SAVER FARES   NOTE - RULE XY12 IN IPRG APPLIES\n"
        "REFUND PERMITTED ------ SEE BELOW"
    )
    assert lines == [
        "CANCELLATIONS", "CHARGE USD 50.", "", "NON-REFUNDABLE AFTER DEPARTURE.",
        "FOR SAVER FARES", "NOTE - RULE XY12 IN IPRG APPLIES",
        "REFUND PERMITTED", "", " SEE BELOW",
    ]  # fmt: skip
