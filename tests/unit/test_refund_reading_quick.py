"""Quick patterns: the literal words every match needs, and results the same as `re`'s."""

from __future__ import annotations

import re

import pytest

from llm_worker.refund.reading.quick import Quick, required_words


@pytest.mark.parametrize(
    ("pattern", "words"),
    [
        (r"FREE OF CHARGE|WITHOUT (?:ANY )?FEE", ["FREE OF CHARGE", "WITHOUT "]),
        (r"\bSEE (?:THE )?RULES?\b", ["SEE "]),
        (r"\s(?:-{3,}|={3,})(?=\s|$)", ["---", "==="]),
        (r"(?<=\S)\s{2,}(?=NOTE\s?-)", ["NOTE"]),
        (r"\d+ ?(?:HOURS?|DAYS?)", ["DAY", "HOUR"]),
        # An optional part or an alternative without a word: nothing is required of the text.
        (r"(?:FEE)?\d+", None),
        (r"FEE|\d+", None),
        (r"(?!FEE)\d+", None),
    ],
)
def test_required_words(pattern: str, words: list[str] | None) -> None:
    assert required_words(re.compile(pattern)) == words


def test_a_case_insensitive_pattern_requires_nothing() -> None:
    assert required_words(re.compile("FEE", re.I)) is None
    assert Quick("FEE", re.I).search("fee") is not None


TEXTS = ["", "CHARGE USD 100 FOR REFUND", "NON-REFUNDABLE.  NOTE - SEE RULE", "A --- B", "12 DAYS"]


@pytest.mark.parametrize(
    "pattern",
    [r"NON[- ]?REFUNDABLE", r"\bSEE RULES?\b", r"\s-{3,}(?=\s|$)", r"(?<=\S)\s{2,}(?=NOTE)",
     r"(?P<n>\d+) ?DAYS?", r"USD|EUR", r"\d"],
)  # fmt: skip
def test_every_method_gives_what_re_gives(pattern: str) -> None:
    quick, plain = Quick(pattern), re.compile(pattern)
    for text in TEXTS:
        assert bool(quick.search(text)) == bool(plain.search(text))
        assert [m.span() for m in quick.finditer(text)] == [m.span() for m in plain.finditer(text)]
        assert bool(quick.match(text)) == bool(plain.match(text))
        assert bool(quick.fullmatch(text)) == bool(plain.fullmatch(text))
        assert quick.sub("#", text) == plain.sub("#", text)
        assert quick.split(text) == plain.split(text)


def test_text_without_a_required_word_is_not_searched() -> None:
    quick = Quick(r"\bSEE RULES?\b")
    assert not quick.possible("CHARGE USD 100")
    assert quick.possible("PLEASE SEE RULE 5")


def test_first_in_lines_finds_the_first_match_of_the_whole_text() -> None:
    quick = Quick(r"\bSYSTEM ?(?:PROMPT)?:|IGNORE (?:ALL )?RULES")
    text = "SYSTEM EXCHANGE RATE\nFARE\nX IGNORE RULES\nSYSTEM: Y\nIGNORE ALL RULES"
    found = quick.first_in_lines(text)
    assert found is not None
    assert found.group(0) == "IGNORE RULES"
    assert found.span() == re.compile(quick.pattern).search(text).span()  # type: ignore[union-attr]
    assert quick.first_in_lines("SYSTEM EXCHANGE RATE\nFARE") is None


def test_a_line_longer_than_any_match_is_not_a_full_match() -> None:
    quick = Quick(r"(?:VOLUNTARY )?REFUNDS?")
    assert quick.widest == len("VOLUNTARY REFUNDS")
    assert quick.fullmatch("VOLUNTARY REFUNDS") is not None
    assert quick.fullmatch("VOLUNTARY REFUNDS ARE PERMITTED") is None
