"""Splits the penalty lines into sentences, each under the provision headings that stand above it.

A display is a stack of headings: the fare or direction a block is for, a validity ("FOR
TICKETING ON/AFTER 01APR 17"), the general rule, the provision (CANCELLATIONS, CHANGES, ...),
its timing (BEFORE DEPARTURE, ANY TIME, a window) and NOTE blocks. GDS text wraps sentences
over lines; a line is joined to the next when it plainly goes on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date, datetime

from llm_worker.refund.reading import lexicon as lx
from llm_worker.refund.reading.model import Context, Scope, Topic, Validity, Window
from llm_worker.refund.reading.quick import Quick


@dataclass(frozen=True)
class Sentence:
    text: str
    context: Context


_WORDS = r"[A-Z0-9/ \-]"
_REFUND_HEADING = Quick(
    r"(?:VOLUNTARY )?(?:CANCELL?ATIONS?|REFUNDS?|CANCELL?ATIONS?/REFUNDS?|CANCEL/REFUND|"
    r"CHANGES?/CANCELL?ATIONS?|CANCELL?ATIONS?/CHANGES?|CANCELL?ATIONS? AND REFUNDS?|"
    r"CANCELL?ATION AND REFUND|PENALTIES|NO[- ]?SHOWS?|TICKET CANCELL?ATION|"
    r"REFUNDS?/CANCELL?ATIONS?)"
    r"(?: PROVISIONS?| RULES?| CONDITIONS?| FEES?| CHARGES?)?"
)
_CHANGE_HEADING = Quick(
    r"(?:VOLUNTARY )?(?:CHANGES?|REISSUES?|REBOOKING|REVALIDATION|REISSUE/REVALIDATION|"
    r"TICKET CHANGES?|DATE CHANGES?)(?: PROVISIONS?| RULES?| CONDITIONS?| FEES?)?"
)
_GENERAL = Quick(r"(?:\**\s*)?GENERAL RULE\b.*")
_FARE_RULE = Quick(r"FARE RULE|FOOTNOTE RULE")
_UNLESS = re.compile(r"^UNLESS OTHERWISE SPECIFIED\b\s*")
_NOTE = re.compile(r"^NOTE\s?-\s*(?P<rest>.*)$")
_QUALIFIER = re.compile(
    r"(?:BETWEEN|FROM|FROM/TO|TO|WITHIN|ORIGINATING|OUTBOUND|INBOUND|FOR)\b" + _WORDS + r"*"
)
_MONTHS = "JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC"
_DATE = rf"(?P<d>\d{{1,2}})\s?(?P<m>{_MONTHS})\s?(?P<y>\d{{2}})\b"
_VALIDITY = re.compile(
    r"FOR (?:TICKETS? |TRAVEL |SALES? )?(?:ISSUED|TICKETING|TICKETED|SOLD|PURCHASED|"
    r"COMMENCING|ISSUED/REISSUED)\w*(?:/\w+)? (?P<rel>ON/BEFORE|ON/AFTER|BEFORE|AFTER|FROM|UNTIL) "
    + _DATE
)
# A line that plainly goes on: a wrapped sentence (GDS lines break near 64 characters) or one
# that ends on a word no sentence ends with.
_WRAPPED_WIDTH = 38
_CONTINUES = re.compile(
    r"(?:[/,(&+-]|\b(?:OF|THE|AND|OR|TO|FOR|A|AN|IN|BY|WITH|ON|AT|IS|ARE|BE|WILL|MUST|PER|"
    r"FROM|THAN|IF|WHEN|NOT|NO|AS|ANY|ALL|THAT|WHICH|SHALL|MAY|CAN|BETWEEN|WITHIN|UNTIL|"
    r"APPLICABLE|IMPOSED))$"
)
# A line that opens a statement of its own, even after a line that looks wrapped.
_STARTS = re.compile(
    # A bullet or list item ("-CHARGE IS ...", "A.IN CASE OF", "2- WHEN"), or a statement.
    r"-\s?[A-Z]|(?:\d{1,2}|[A-H])\s?[.)-]\s?[A-Z]{2}|"
    r"(?:REFUNDS?|UNLIMITED|TICKET IS|TICKETS ARE|CANCELL?ATIONS|WAIVED|WAIVERS?|NON-?REFUNDABLE|"
    r"FULL REFUND|FULLY|CHILD|INFANTS?|NOTE|CHARGE (?:[A-Z]{3} ?)?\d|"
    r"NO (?:CHARGE|PENALT|REFUND|FEE|SHOW)|PENALT(?:Y|IES) (?:WAIVED|APPL))\b"
)
_ENDS = re.compile(r"[.;:!]$")
_SPLIT = re.compile(r"(?<=[.;!])\s+")
# Words no fare, class or direction heading holds: "FOR ALL JOURNEYS ..." names no one fare.
_NOT_QUALIFIER = Quick(
    r"\b(?:CONTACT|SEE|DETAILS|FURTHER|REFER|INFORMATION|APPLY|APPLIES)\b|"
    r"^FOR (?:ALL|ANY|EACH|EVERY)\b"
)
_SLASH_WRAP = Quick(r"/ (?=[A-Z])")
_DASHES = Quick(r"-{2,}.*$")
_MARK = re.compile(r"^(?:\d{1,2}|[A-Z])[.)]\s*")
# The words a timing heading is made of, and nothing else.
_TIMING_WORDS = re.compile(
    r"\b(?:ANY ?TIME|BEFORE|AFTER|PRIOR TO|OUTBOUND|INBOUND|THE|SCHEDULED|ORIGINALLY|OF|"
    r"DEPARTURE|JOURNEY|TRAVEL|IN THE EVENT|IN CASE|ONLY|NO[- ]?SHOWS?|FIRST|FLIGHT|"
    r"MORE THAN|LESS THAN|OR LESS|OR MORE|WITHIN|UP TO|UNTIL|AT LEAST|BETWEEN|AND|OR|FROM|TO|\d+|"
    r"HOURS?|HRS?|H|DAYS?|WEEKS?)\b"
)
_LIST_MARK = re.compile(r"(?:^|\s)(?:\d{1,2}|[A-Z])[.]$")
# A line that opens with words no statement opens with: the line above, short as it is, goes on
# ("CHARGE THE HIGHER OF USD 100 OR 20" / "PERCENT OF THE FARE").
_GOES_ON = re.compile(r"(?:PERCENT|PER CENT|PCT|%|OF|OR|AND|PER|WHICHEVER|THAN|TO|IS|ARE|WILL)\b")


def split_provisions(lines: list[str]) -> list[Sentence]:
    """Every sentence of the penalty lines, with the headings it stands under."""
    out: list[Sentence] = []
    context = Context()
    buffer: list[str] = []
    buffered: Context = context

    def flush() -> None:
        if buffer:
            out.extend(Sentence(s, buffered) for s in _sentences(" ".join(buffer)))
            buffer.clear()

    note_base: Context | None = None  # the context a NOTE opened in, before timings inside it
    note_indent = 0
    # The buffer ends on a short line ("short": a sentence, unless the next line goes on) or on
    # a colon ("colon": what follows completes it, unless it opens a statement of its own).
    held = ""
    for raw in lines:
        line = " ".join(raw.split())
        if not line:
            flush()
            if note_base is not None and context.note:
                context = note_base
            continue
        indent = len(raw) - len(raw.lstrip())
        if context.note and note_base is not None and indent < note_indent:
            # A line left of the NOTE's own column is back in the provision (Amadeus, Sabre).
            flush()
            context = replace(note_base, note=False)
            note_base = None
        line = _UNLESS.sub("", line).strip()
        if not line:
            continue
        heading = _heading(line, context)
        if heading is not None:
            flush()
            context = heading
            continue
        note = _NOTE.match(line)
        if note:
            flush()
            context = replace(context, note=True)
            note_base, note_indent = context, indent
            line = note.group("rest").strip()
            if not line:
                continue
            heading = _heading(line, context)
            if heading is not None:
                context = replace(heading, note=True)
                continue
        if (held == "short" and not _GOES_ON.match(line)) or (
            held == "colon" and _STARTS.match(line)
        ):
            flush()
        held = ""
        if buffer and _STARTS.match(line) and not _CONTINUES.search(buffer[-1]):
            flush()
        if not buffer:
            buffered = context
        buffer.append(line)
        if line.endswith(":"):
            held = "colon"  # "CANCELLATION FEE:" / "USD 50." is one statement; "- ..." opens one
        elif _ENDS.search(line):
            flush()
        elif len(line) < _WRAPPED_WIDTH and not _CONTINUES.search(line):
            held = "short"
    flush()
    return out


def _sentences(text: str) -> list[str]:
    """A buffer split at full stops, keeping list marks ("1.", "A.") with what follows."""
    text = _SLASH_WRAP.sub("/", text)  # "CANCEL/NO-SHOW/ REFUND" wrapped after a slash
    pieces = [p for p in _SPLIT.split(text) if p]
    merged: list[str] = []
    for piece in pieces:
        if merged and _list_mark(merged[-1]):
            merged[-1] = f"{merged[-1]} {piece}"
        else:
            merged.append(piece)
    return [s.strip(" .;:-*") for s in merged if s.strip(" .;:-*")]


def _list_mark(piece: str) -> bool:
    """Whether a piece ends on a list mark ("... FARES 1.") rather than a sentence ("USD 50.")."""
    words = piece.split()
    if not _LIST_MARK.search(piece) or len(words) > 12:
        return False
    before = words[-2] if len(words) > 1 else ""
    return before not in lx.CURRENCIES and not before.endswith(":") and not lx.SYMBOLS.get(before)


def _heading(line: str, context: Context) -> Context | None:
    """The context a heading line opens, or None when the line is not a heading."""
    words = line.strip(" .:-*/").strip()
    words = _DASHES.sub("", words).strip(" .:-/")  # "CHANGES-------" (Sabre notes)
    words = _MARK.sub("", words)  # "A. BEFORE DEPARTURE OF JOURNEY"
    if not words:
        return None
    base = Context(general=context.general, qualifier=context.qualifier, validity=context.validity)
    if _GENERAL.fullmatch(words):
        return Context(general=True, qualifier=context.qualifier, validity=context.validity)
    if _FARE_RULE.fullmatch(words):
        return Context(qualifier=context.qualifier, validity=context.validity)
    if _REFUND_HEADING.fullmatch(words):
        scope = Scope.NO_SHOW if lx.NO_SHOW.search(words) else Scope.UNSPECIFIED
        return replace(base, topic=Topic.REFUND, headed=True, scope=scope)
    if _CHANGE_HEADING.fullmatch(words):
        return replace(base, topic=Topic.CHANGE, headed=True)
    validity = _VALIDITY.match(words)
    if validity:
        return replace(base, validity=_validity(words, validity), qualifier=context.qualifier)
    if context.note:
        # Inside a note only timing headings ("// NO SHOW //", "AFTER DEPARTURE ONLY") count.
        timing = _timing(words)
        if timing is None:
            return None
        return replace(context, scope=timing[0], window=timing[1])
    timing = _timing(words)
    if timing is not None:
        return replace(
            context, scope=timing[0], window=timing[1], note=False,
        )  # fmt: skip
    if (
        len(words) <= 64
        and not line.rstrip().endswith(".")
        and _QUALIFIER.fullmatch(words)
        and not _NOT_QUALIFIER.search(words)
        and not _is_statement(words)
        # "BETWEEN 4 AND 7 DAYS BEFORE DEPARTURE FULLY" is a wrapped timed statement, not a fare.
        and lx.window_in(words) is None
    ):
        return Context(qualifier=words, general=context.general, validity=context.validity)
    return None


def _timing(words: str) -> tuple[Scope, Window | None] | None:
    """A heading that only names a timing: BEFORE DEPARTURE, ANY TIME, MORE THAN 7 DAYS ..."""
    if len(words) > lx.HEADING_MAX or _TIMING_WORDS.sub("", words).strip(" /-:,."):
        return None
    window = lx.window_in(words)
    if lx.NO_SHOW.search(words):
        return Scope.NO_SHOW, window
    if lx.AFTER.search(words):
        return Scope.AFTER_DEPARTURE, window
    if lx.ANY_TIME.search(words):
        return Scope.ANY_TIME, window
    if lx.BEFORE_DEP.search(words) or window is not None or "BEFORE" in words:
        return Scope.BEFORE_DEPARTURE, window
    return None


def _is_statement(words: str) -> bool:
    return any(
        p.search(words)
        for p in (lx.NON_REFUNDABLE_TEXT, lx.FREE, lx.BARE_FREE, lx.FEE_WORDS, lx.PERMITTED)
    )


def _validity(words: str, m: re.Match[str]) -> Validity:
    day = _parse_date(m.group("d"), m.group("m"), m.group("y"))
    rel = m.group("rel")
    if day is None:
        return Validity(words)
    if rel in ("ON/BEFORE", "UNTIL"):
        return Validity(words, on_or_before=day)
    if rel == "BEFORE":
        return Validity(words, on_or_before=date.fromordinal(day.toordinal() - 1))
    if rel == "AFTER":
        return Validity(words, on_or_after=date.fromordinal(day.toordinal() + 1))
    return Validity(words, on_or_after=day)


def _parse_date(d: str, m: str, y: str) -> date | None:
    try:
        return datetime.strptime(f"{int(d):02d}{m}{y}", "%d%b%y").date()
    except ValueError:
        return None
