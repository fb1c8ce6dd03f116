"""The structural reader of category-16 fare rules: normalise, split into provisions, classify."""

from __future__ import annotations

from llm_worker.refund.reading import lexicon
from llm_worker.refund.reading.model import (
    DECISIVE,
    Context,
    Kind,
    Per,
    Reading,
    Reason,
    Scope,
    Statement,
    Topic,
    Validity,
    Window,
)
from llm_worker.refund.reading.normalise import normalise
from llm_worker.refund.reading.provisions import split_provisions
from llm_worker.refund.reading.statements import classify

__all__ = [
    "DECISIVE",
    "Context",
    "Kind",
    "Per",
    "Reading",
    "Reason",
    "Scope",
    "Statement",
    "Topic",
    "Validity",
    "Window",
    "read_fare_rules",
]


def read_fare_rules(text: str | None) -> Reading:
    """Read every statement of the fare rules' penalty provisions (any case, any layout)."""
    if text is None or not text.strip():
        return Reading(statements=())
    upper = text.upper().replace("\u00a0", " ")
    injection = lexicon.INJECTION.first_in_lines(upper)  # an instruction spans no line
    lines, category = normalise(text)
    found: list[Statement] = []
    for sentence in split_provisions(lines):
        found.extend(classify(sentence, found[-1] if found else None))
    statements = tuple(found)
    decisive = [s for s in statements if s.kind in DECISIVE]
    # A fare- or direction-heading that holds refund rules of its own: several mean several fares.
    qualifiers = dict.fromkeys(
        s.context.qualifier or "" for s in decisive if s.context.topic is Topic.REFUND
    )
    return Reading(
        statements=statements,
        injection=injection.group(0).strip() if injection else None,
        foreign=lexicon.FOREIGN.search(upper) and (not decisive or _unread_foreign(statements)),
        qualifiers=tuple(q for q in qualifiers if q) if len(qualifiers) > 1 else (),
        penalties_category=category,
    )


def _unread_foreign(statements: tuple[Statement, ...]) -> bool:
    """Whether words of another language stand where nothing was read: "BILLET NON
    REMBOURSABLE" is read, the band "7 JOURS OU MOINS AVANT LE DÉPART" above it is not."""
    words = sum(lexicon.FOREIGN.count(s.text) for s in statements if s.kind not in DECISIVE)
    return words >= 2  # one foreign word ("TARIF ECO") beside English rules is a name
