"""Names CONTRACT.md fixes, written down once for the tests that hold files against it (never
read from the product, so that a drift in the product shows)."""

from __future__ import annotations

# Section 2's inputs, given when an instance starts, plus the process's own per-instance
# review SLA and audit rate (section 4).
START_INPUTS = frozenset(
    {
        "bookingId",
        "fareRules",
        "ticketClass",
        "fareBasis",
        "ticketPrice",
        "currency",
        "purchaseDate",
        "departureDate",
        "requestDate",
        "refundReason",
        "flightStatus",
        "noShow",
        "passengerCount",
        "reviewSla",
        "auditRate",
        "auditSla",
    }
)
