"""The reading of one case in words: provisions found, statements that applied, sure or not."""

from __future__ import annotations

from collections import Counter

from llm_worker.refund.reading.applying import Applicable, quote
from llm_worker.refund.reading.model import Kind, Reading, Statement


def explain(reading: Reading, applicable: Applicable, conclusion: str, *, sure: bool) -> str:
    """A plain-text report for an engineer or a refund-team lead (`decide --explain`)."""
    lines = [
        "category 16 (PENALTIES) found: "
        + (
            "yes, other categories left out"
            if reading.penalties_category
            else "no heading, whole text read"
        ),
    ]
    if reading.injection:
        lines.append(f'text addressed to the decision system: "{reading.injection}"')
    if reading.foreign:
        lines.append("the text is not in English")
    if reading.qualifiers:
        lines.append("several fares or directions: " + "; ".join(reading.qualifiers))
    provisions = Counter(s.context.label() for s in reading.statements)
    lines.append(f"provisions ({len(provisions)}):")
    lines.extend(f"  {label}: {n} statement(s)" for label, n in provisions.items())
    applied = set(map(id, applicable.statements))
    lines.append(f"statements that apply to this request ({len(applicable.statements)}):")
    lines.extend(f"  {_line(s)}" for s in applicable.statements)
    skipped = [s for s in reading.statements if id(s) not in applied]
    lines.append(
        f"statements that do not apply ({len(skipped)}): change provisions, other timings, "
        "the general rule where the fare rule speaks, other validity"
    )
    for doubt in applicable.doubts:
        lines.append(f"doubt: {doubt.why}")
    lines.append(("sure: " if sure else "unsure: ") + conclusion)
    return "\n".join(lines)


def _line(statement: Statement) -> str:
    what = statement.kind.value
    if statement.kind is Kind.FEE:
        amount = (
            f"{statement.percent}%" if statement.percent is not None
            else f"{statement.amount} {statement.currency}"
        )  # fmt: skip
        what += f" {amount} per {statement.per.value}"
        if statement.uncomputable:
            what += f" (cannot be computed: {statement.uncomputable})"
    elif statement.about:
        what += f" ({statement.about})"
    timing = statement.window.describe() if statement.window else statement.scope.value
    return f'[{statement.context.label()}] {what}, {timing}: "{quote(statement)}"'
