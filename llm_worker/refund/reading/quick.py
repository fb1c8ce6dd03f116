"""Patterns that skip text they cannot match: a pattern is searched only in text holding one of
the literal words every match of it must contain (a few `in` tests instead of a regex scan)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from re import _constants as sre  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

# Words shorter than this are in nearly every line: testing for them saves nothing.
_SHORTEST = 2
_MOST = 40


class Quick:
    """A compiled pattern with the same results as `re`, faster on text it cannot match."""

    def __init__(self, pattern: str, flags: int = 0) -> None:
        self.regex = re.compile(pattern, flags)
        self.pattern = self.regex.pattern
        # The longest text a whole match can be: a longer line is no heading, whatever it says.
        self.widest: int = sre_parse.parse(pattern, flags).getwidth()[1]
        found = required_words(self.regex)
        usable = found is not None and min(map(len, found)) >= _SHORTEST and len(found) <= _MOST
        self.words: tuple[str, ...] | None = tuple(found) if usable and found else None

    def possible(self, text: str) -> bool:
        """False when the text cannot hold a match (none of the required words is in it)."""
        return self.words is None or any(word in text for word in self.words)

    def search(self, text: str) -> re.Match[str] | None:
        return self.regex.search(text) if self.possible(text) else None

    def match(self, text: str) -> re.Match[str] | None:
        return self.regex.match(text) if self.possible(text) else None

    def fullmatch(self, text: str) -> re.Match[str] | None:
        if len(text) > self.widest or not self.possible(text):
            return None
        return self.regex.fullmatch(text)

    def first_in_lines(self, text: str) -> re.Match[str] | None:
        """`search` for a pattern no match of which spans a line: only the lines that hold one of
        its words are searched (a long display holds them in a line or two, if at all)."""
        if self.words is None:
            return self.regex.search(text)
        starts: set[int] = set()
        for word in self.words:
            at = text.find(word)
            while at >= 0:
                line = text.rfind("\n", 0, at) + 1
                starts.add(line)
                end = text.find("\n", at)
                at = -1 if end < 0 else text.find(word, end)
        for start in sorted(starts):
            end = text.find("\n", start)
            found = self.regex.search(text, start, len(text) if end < 0 else end)
            if found:
                return found
        return None

    def finditer(self, text: str) -> Iterator[re.Match[str]]:
        return self.regex.finditer(text) if self.possible(text) else iter(())

    def sub(self, repl: str, text: str) -> str:
        return self.regex.sub(repl, text) if self.possible(text) else text

    def split(self, text: str) -> list[str | Any]:
        return self.regex.split(text) if self.possible(text) else [text]


def required_words(regex: re.Pattern[str]) -> list[str] | None:
    """Literal words one of which every match contains, or None when the pattern has none."""
    if regex.flags & (re.IGNORECASE | re.LOCALE):
        return None
    return _sequence(sre_parse.parse(regex.pattern, regex.flags).data)


def _sequence(items: list[tuple[Any, Any]]) -> list[str] | None:
    """The best words of a sequence: any one of its required parts will do, the longest wins."""
    best: list[str] | None = None
    run: list[str] = []

    def consider(words: list[str] | None) -> None:
        nonlocal best
        if words and (best is None or _rank(words) > _rank(best)):
            best = words

    for op, av in items:
        if op is sre.LITERAL:
            run.append(chr(av))
            continue
        if run:
            consider(["".join(run)])
            run = []
        consider(_item(op, av))
    if run:
        consider(["".join(run)])
    return best


def _rank(words: list[str]) -> tuple[int, int]:
    return min(map(len, words)), -len(words)


def _item(op: Any, av: Any) -> list[str] | None:
    if op is sre.SUBPATTERN:
        _group, add_flags, del_flags, inner = av
        return None if add_flags or del_flags else _sequence(inner.data)
    if op is sre.BRANCH:
        words: list[str] = []
        for alternative in av[1]:
            found = _sequence(alternative.data)
            if not found:
                return None  # an alternative without a required word: nothing is required
            words.extend(found)
        return sorted(set(words))
    if op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
        least, _most, inner = av
        if least >= 1 and len(inner.data) == 1 and inner.data[0][0] is sre.LITERAL:
            return [chr(inner.data[0][1]) * min(least, 8)]  # "-{3,}": "---"
        return _sequence(inner.data) if least >= 1 else None
    if op is sre.ASSERT:
        return _sequence(av[1].data)  # what a lookahead or lookbehind sees is in the text too
    if op is sre.IN and av and all(kind is sre.LITERAL for kind, _ in av):
        return [chr(code) for _, code in av]
    return None  # a class, an assertion, a boundary: no literal word
