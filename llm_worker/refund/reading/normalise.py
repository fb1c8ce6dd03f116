"""Cleans a fare-rule display down to the lines of its penalties category.

GDS displays carry page markers, fare-quote headers and other categories around category 16;
what is left is upper case text, one display line a line, with separators kept as blank lines
so that the provision splitter knows where a sentence cannot continue.
"""

from __future__ import annotations

import re

_CATEGORY_NAMES = (
    "RULE APPLICATION", "APPLICATION AND OTHER CONDITIONS", "ELIGIBILITY", "DAY/TIME", "DAY TIME",
    "SEASONALITY", "SEASONS", "FLIGHT APPLICATION", "ADVANCE RES", "ADVANCE PURCHASE", "MIN STAY",
    "MINIMUM STAY", "MAX STAY", "MAXIMUM STAY", "STOPOVERS", "TRANSFERS", "COMBINATIONS",
    "BLACKOUT", "SURCHARGES", "ACCOMPANIED", "TRAVEL RESTRICTIONS", "SALES RESTRICTIONS",
    "PENALTIES", "HIP", "TICKET ENDORSEMENT", "ENDORSEMENTS", "CHILDREN", "CHILD DISCOUNTS",
    "TOUR CONDUCTOR", "AGENT DISCOUNTS", "ALL OTHER DISCOUNTS", "OTHER DISCOUNTS",
    "MISCELLANEOUS", "FARE BY RULE", "GROUPS", "TOURS", "VISIT ANOTHER", "DEPOSITS",
    "VOLUNTARY CHANGES", "VOLUNTARY REFUNDS", "NEGOTIATED", "INTERNATIONAL CONSTRUCTION",
    "ROUTING", "FARE RESTRICTIONS", "FARE FAMILY", "BAGGAGE",
)  # fmt: skip
# "16.PENALTIES", "PE.PENALTIES", "06.MINIMUM STAY", "MX.MAX STAY": a category's heading.
_CATEGORY = re.compile(
    r"^\s*(?:\d{1,2}|[A-Z]{2})\s?\.\s?(?P<name>"
    + "|".join(re.escape(n) for n in _CATEGORY_NAMES)
    + r")\b(?P<rest>.*)$"
)
_BARE_PENALTIES = re.compile(r"^\s*PENALTIES\s*:?\s*$")
_PAGE = re.compile(r"\s*\bPAGE\s+\d+\s*/\s*\d+\s*$")
_JUNK = re.compile(r"^\s*(?:\)?><|\.|\*+)?\s*$")
_SEPARATOR = re.compile(r"^\s*(?:[-=*_/.]\s*){2,}$")
# Separators written inside one long line (API text): " ------ ", " // ".
_INLINE_SEPARATOR = re.compile(r"\s(?:-{3,}|={3,}|/{2,})(?=\s|$)")
# "FOR -NC TYPE FARES   NOTE - RULE NCB4 IN IPRG APPLIES": a note opened mid-line.
_INLINE_NOTE = re.compile(r"(?<=\S)\s{2,}(?=NOTE\s?-)")
_TAG = re.compile(r"<\s*br\s*/?\s*>", re.I)


def normalise(text: str) -> tuple[list[str], bool]:
    """The penalty lines of a display (blank for a separator), and whether category 16 was found.

    Without category headings the whole text is kept: a bare category-16 text or a prose page.
    """
    raw = _TAG.sub("\n", text).replace("\u00a0", " ").replace("\t", "    ").upper()
    lines: list[str] = []
    after_page = False
    for line in raw.splitlines():
        paged = _PAGE.sub("", line).rstrip()
        if paged != line.rstrip() or (after_page and not paged.strip()):
            # A page break is not a paragraph break: the sentence may go on on the next page.
            after_page = not paged.strip()
            if after_page:
                continue
        after_page = False
        line = paged
        for piece in _INLINE_SEPARATOR.split(line):
            lines.extend(_INLINE_NOTE.split(piece))
            lines.append("")
        lines.pop()
    cleaned = ["" if _SEPARATOR.match(line) or _JUNK.match(line) else line for line in lines]
    return _penalties(cleaned)


def _penalties(lines: list[str]) -> tuple[list[str], bool]:
    headings = {i: m.group("name") for i, line in enumerate(lines) if (m := _CATEGORY.match(line))}
    starts = [i for i, name in headings.items() if name == "PENALTIES"]
    if not starts:
        bare = [i for i, line in enumerate(lines) if _BARE_PENALTIES.match(line)]
        if not headings:
            return [line for i, line in enumerate(lines) if i not in bare], bool(bare)
        if not bare:
            return [], False
        starts = bare
    ends = sorted({*headings, *starts})
    kept: list[str] = []
    for start in starts:
        match = _CATEGORY.match(lines[start])
        rest = match.group("rest").strip(" :-") if match else ""
        if rest:  # "PE.PENALTIES FROM/TO AREA 2 FOR ECONOMY FARES": the fare it is for
            kept.append(rest)
        stop = next((i for i in ends if i > start), len(lines))
        kept.extend(lines[start + 1 : stop])
        kept.append("")
    return kept, True
