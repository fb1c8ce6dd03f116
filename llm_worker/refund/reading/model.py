"""What the reader makes of fare rules: provisions, their statements and how each was classified."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum


class Kind(StrEnum):
    """How one statement of the fare rules was classified."""

    FEE = "fee"  # a refund fee: an amount or a percentage
    FREE = "free"  # refundable without charge (or a stated fee of zero)
    PERMITTED = "permitted"  # "cancellations permitted", no charge named in the statement
    NON_REFUNDABLE = "non_refundable"  # non-refundable, or refund/cancellation not permitted
    TAXES_ONLY = "taxes_only"  # only taxes or airport charges come back
    RETAINED = "retained"  # a part of the price (a surcharge, a service fee) is kept
    FEE_BASIS = "fee_basis"  # how fees are counted: per coupon, taxes added, flown part deducted
    VOUCHER = "voucher"  # the refund is a voucher, credit shell or travel credit
    WAIVER = "waiver"  # a waiver or exception tied to a reason (death, illness, visa, ...)
    REFERENCE = "reference"  # points to provisions not shown ("see fare rule", "contact carrier")
    NEUTRAL = "neutral"  # read, and changes nothing for a refund (`about` says what it is)
    UNREAD = "unread"  # not understood: the reading is not complete


# What a refund decision can rest on (the rest are doubts or boilerplate).
DECISIVE = frozenset({Kind.FEE, Kind.FREE, Kind.PERMITTED, Kind.NON_REFUNDABLE})


class Scope(StrEnum):
    """The part of the journey a statement speaks of."""

    UNSPECIFIED = "unspecified"  # no timing named: a general cancellation/refund rule
    ANY_TIME = "any_time"  # explicitly "any time"
    BEFORE_DEPARTURE = "before_departure"
    AFTER_DEPARTURE = "after_departure"
    NO_SHOW = "no_show"


class Topic(StrEnum):
    """Which provision a statement stands in."""

    REFUND = "refund"  # CANCELLATIONS, REFUND, NO-SHOW, CHANGES/CANCELLATIONS, or no heading
    CHANGE = "change"  # CHANGES, REISSUE, REBOOKING: never a refund fee


class Per(StrEnum):
    """What an amount fee is charged for."""

    PASSENGER = "passenger"  # each passenger's ticket (ATPCO's default)
    BOOKING = "booking"
    UNIT = "unit"  # each coupon, sector, segment, direction: a count the case does not give


class Reason(StrEnum):
    """What a waiver or exception is tied to."""

    DEATH = "death"
    ILLNESS = "illness"
    VISA = "visa"
    INVOLUNTARY = "involuntary"  # schedule change, carrier cancellation, delay
    OTHER = "other"


@dataclass(frozen=True)
class Window:
    """Hours before departure in which a statement applies: min <= hours < max."""

    min_hours: float | None = None
    max_hours: float | None = None

    def contains(self, hours: float) -> bool:
        if self.min_hours is not None and hours < self.min_hours:
            return False
        return not (self.max_hours is not None and hours >= self.max_hours)

    def describe(self) -> str:
        def span(h: float) -> str:
            return f"{h / 24:g} days" if h >= 48 and h % 24 == 0 else f"{h:g} hours"

        if self.min_hours is not None and self.max_hours is not None:
            return f"{span(self.min_hours)} to {span(self.max_hours)} before departure"
        if self.min_hours is not None:
            return f"at least {span(self.min_hours)} before departure"
        if self.max_hours is not None:
            return f"less than {span(self.max_hours)} before departure"
        return "any time"


@dataclass(frozen=True)
class Validity:
    """A block that applies only to tickets issued on, before or after a date."""

    text: str
    on_or_after: date | None = None
    on_or_before: date | None = None

    def covers(self, issued: date) -> bool:
        if self.on_or_after is not None and issued < self.on_or_after:
            return False
        return not (self.on_or_before is not None and issued > self.on_or_before)


@dataclass(frozen=True)
class Context:
    """Where in the display a statement stands (the headings above it)."""

    topic: Topic = Topic.REFUND
    scope: Scope = Scope.UNSPECIFIED
    window: Window | None = None
    headed: bool = False  # under a CANCELLATIONS/REFUND/... heading (not bare prose)
    note: bool = False  # inside a NOTE block
    general: bool = False  # inside "GENERAL RULE - APPLY UNLESS OTHERWISE SPECIFIED"
    qualifier: str | None = None  # a fare-component, direction or fare-type heading
    validity: Validity | None = None

    def label(self) -> str:
        parts = ["GENERAL RULE"] if self.general else []
        if self.qualifier:
            parts.append(self.qualifier)
        parts.append(self.topic.value.upper() if self.headed else "TEXT")
        if self.window is not None:
            parts.append(self.window.describe().upper())
        elif self.scope is not Scope.UNSPECIFIED:
            parts.append(self.scope.value.replace("_", " ").upper())
        if self.note:
            parts.append("NOTE")
        return " / ".join(parts)


@dataclass(frozen=True)
class Statement:
    """One sentence of the fare rules and what it says."""

    kind: Kind
    scope: Scope
    text: str
    window: Window | None = None
    amount: Decimal | None = None
    currency: str | None = None
    percent: Decimal | None = None
    # A second fee in the same sentence ("USD 100 OR 10% WHICHEVER IS HIGHER").
    alternative: Statement | None = None
    pick: str | None = None  # "max" or "min" between the fee and its alternative
    per: Per = Per.PASSENGER
    # A free refund under a condition the reader does not check ("FOR ELITE MEMBERS", "IF ...").
    conditional: bool = False
    # Why a fee cannot be computed from the case ("up to", "of the basic fare"), if it cannot.
    uncomputable: str | None = None
    reason: Reason | None = None  # of a WAIVER
    about: str | None = None  # what a NEUTRAL, REFERENCE or UNREAD statement is
    context: Context = field(default_factory=Context)


@dataclass(frozen=True)
class Reading:
    """The whole text read: every statement classified, and what stands out."""

    statements: tuple[Statement, ...]
    injection: str | None = None  # the phrase that looks like an instruction to the decider
    foreign: bool = False  # the text is (mostly) not in English
    qualifiers: tuple[str, ...] = ()  # distinct fare, class or direction headings that hold rules
    penalties_category: bool = False  # a category-16 heading was found and the rest dropped
