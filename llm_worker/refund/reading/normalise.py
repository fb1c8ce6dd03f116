"""Cleans a fare-rule display down to the lines of its penalties category.

GDS displays carry page markers, fare-quote headers and other categories around category 16;
what is left is upper case text, one display line a line, with separators kept as blank lines
so that the provision splitter knows where a sentence cannot continue.
"""

from __future__ import annotations

import re

from llm_worker.refund.reading.quick import Quick

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
# "16.PENALTIES", "PE.PENALTIES", "CATEGORY 16 PENALTIES", "CATEGORY 16: PENALTIES", "06.MINIMUM
# STAY", "MX.MAX STAY": a category's heading, which introduces the provisions below it.
_CATEGORY = re.compile(
    r"^\s*(?:(?:CATEGORY|CAT)\.?\s?\d{1,2}\s?[.:-]?\s?|(?:\d{1,2}|[A-Z]{2})\s?\.\s?)(?P<name>"
    + "|".join(re.escape(n) for n in _CATEGORY_NAMES)
    + r")\b(?P<rest>.*)$"
)
_BARE_PENALTIES = re.compile(r"^\s*PENALTIES\s*:?\s*$")
_PAGE = Quick(r"\s*\bPAGE\s+\d+\s*/\s*\d+\s*$")
# Apollo's end-of-screen marker, alone on its line: the display goes on on the next screen.
_APOLLO_MARK = re.compile(r"^\s*\)?><\s*$")
_SENTENCE_END = re.compile(r"[.;:!]\s*$")
# Separators written inside one long line (API text): " ------ ", " // ".
_INLINE_SEPARATOR = Quick(r"\s(?:-{3,}|={3,}|/{2,})(?=\s|$)")
# "FOR -NC TYPE FARES   NOTE - RULE NCB4 IN IPRG APPLIES": a note opened mid-line.
_INLINE_NOTE = Quick(r"(?<=\S)\s{2,}(?=NOTE\s?-)")
_TAG = re.compile(r"<\s*br\s*/?\s*>", re.I)
# What a line holds that is not text, in one pattern: junk (a lone ")><", "." or "***"), a
# separator ("-----", "= = ="), or a fare-quote or display header (Amadeus FQN, Sabre WPRD/RD,
# Apollo FN), whose amounts are fares, not fees, wherever they stand.
_BOILERPLATE = re.compile(
    r"^\s*(?:(?:\)?><|\.|\*+)?\s*$|(?:[-=*_/.]\s*){2,}$|"
    r"FQN|FXF|FQ[A-Z]?\d|\d+\s*-\s*(?:PTC|PSGR)\b|FCL:|PTC:|FTC:|FARE FAMILY\s*:|"
    r"V FARE BASIS|PASSENGER TYPE-|FROM-[A-Z]{3} TO-|FARE BASIS-|FARE TYPE-|SYSTEM DATES|"
    r"TARIFF FAMILY-|QUOTE\d+\b|FARE COMPONENT\s+\d|"
    r"[A-Z]{3}\s+\d+\.\d{2}\s+\S+\s+E\d{2}[A-Z]{3}\d{2}|"  # USD 412.00 0400 E06SEP17
    r"\d{1,2}\s+[A-Z]{3}-?[A-Z]{3}\s+\S+\s+[A-Z0-9]{2}\s+[A-Z]{3}\s+\d)"  # 01 MNL-CHI ... NUC 430
)
# "NYC-LON RULES DISPLAY": a display's title line (a search of its own: `.*` in the pattern
# above would be tried at every character of every line).
_DISPLAY_TITLE = Quick(r"\bRULES DISPLAY\s*$")


def normalise(text: str) -> tuple[list[str], bool]:
    """The penalty lines of a display (blank for a separator), and whether category 16 was found.

    Without category headings the whole text is kept: a bare category-16 text or a prose page.
    """
    raw = _TAG.sub("\n", text).replace("\u00a0", " ").replace("\t", "    ").upper()
    lines: list[str] = []
    after_page = False
    split = raw.splitlines()
    for number, line in enumerate(split):
        if _APOLLO_MARK.match(line):
            # Like a page break: where the text before it goes on on the next line, the
            # sentence is joined across it; after a finished sentence, or last, it is a break.
            goes_on = number + 1 < len(split) and bool(split[number + 1].strip())
            before = lines[-1] if lines else ""
            if not (goes_on and before.strip() and not _SENTENCE_END.search(before)):
                lines.append("")
            continue
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
    cleaned = [
        "" if _BOILERPLATE.match(line) or _DISPLAY_TITLE.search(line) else line for line in lines
    ]
    return _penalties(cleaned)


def _penalties(lines: list[str]) -> tuple[list[str], bool]:
    headings = {i: m.group("name") for i, line in enumerate(lines) if (m := _CATEGORY.match(line))}
    starts = [i for i, name in headings.items() if name == "PENALTIES"]
    if not starts:
        bare = [i for i, line in enumerate(lines) if _BARE_PENALTIES.match(line)]
        if not bare:
            return ([], False) if headings else (lines, False)
        starts = bare
    ends = sorted({*headings, *starts})
    kept: list[str] = []
    for number, start in enumerate(starts, start=1):
        if len(starts) > 1:
            # One penalties section per fare component or fare: their rules may differ.
            kept.extend(["", f"FOR FARE COMPONENT {number}", ""])
        match = _CATEGORY.match(lines[start])
        rest = match.group("rest").strip(" :-") if match else ""
        if rest:  # "PE.PENALTIES FROM/TO AREA 2 FOR ECONOMY FARES": the fare it is for
            kept.append(rest)
        stop = next((i for i in ends if i > start), len(lines))
        kept.extend(lines[start + 1 : stop])
        kept.append("")
    return kept, True
