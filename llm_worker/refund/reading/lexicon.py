"""The words of fare rules: currencies, amounts, percentages, timings and the phrases that say
a fare is free, charged or non-refundable, as the reading modules match them."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from llm_worker.refund.reading.model import Window
from llm_worker.refund.reading.quick import Quick

# ISO 4217 codes seen in fare rules; a closed list so that words like FEE or FOR are not codes.
CURRENCIES = frozenset(
    [
        "USD",
        "EUR",
        "GBP",
        "CAD",
        "AUD",
        "NZD",
        "CHF",
        "JPY",
        "CNY",
        "HKD",
        "SGD",
        "INR",
        "AED",
        "SAR",
        "QAR",
        "KWD",
        "BHD",
        "OMR",
        "TRY",
        "ZAR",
        "EGP",
        "MAD",
        "SEK",
        "NOK",
        "DKK",
        "ISK",
        "PLN",
        "CZK",
        "HUF",
        "RON",
        "BGN",
        "RUB",
        "UAH",
        "ILS",
        "THB",
        "MYR",
        "IDR",
        "PHP",
        "VND",
        "KRW",
        "TWD",
        "MXN",
        "BRL",
        "ARS",
        "CLP",
        "COP",
        "PEN",
    ]
)
SYMBOLS = {"US$": "USD", "C$": "CAD", "CA$": "CAD", "A$": "AUD", "AU$": "AUD", "NZ$": "NZD",
            "$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY", "₹": "INR", "CHF": "CHF"}  # fmt: skip

NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?|\d+(?:[.,]\d{1,2})?"
CODE = "(?:" + "|".join(sorted(CURRENCIES)) + ")"
SYM = r"US\$|CA?\$|AU?\$|NZ\$|\$|€|£|¥|₹"
AMOUNT = re.compile(
    rf"(?:(?P<code1>{CODE})\s?(?P<num1>{NUM})(?![\d%]))"
    rf"|(?:(?P<sym1>{SYM})\s?(?P<num2>{NUM}))"
    rf"|(?:(?<![\w.,])(?P<num3>{NUM})\s?(?:(?P<code2>{CODE})\b|(?P<sym2>€|£|\$)))"
)
PERCENT = re.compile(rf"(?<![\w.,])(?P<num>{NUM})\s?(?:%|PERCENT\b|PER CENT\b|PCT\b)")
UNIT_HOURS = {"HOUR": 1.0, "HR": 1.0, "H": 1.0, "DAY": 24.0, "WEEK": 168.0}
UNIT = r"(?P<unit>HOURS?|HRS?|H|DAYS?|WEEKS?)\b"
BEFORE = r"(?:BEFORE|PRIOR TO|PRIOR)"
WINDOW_PATTERNS: tuple[tuple[Quick, str], ...] = (
    (Quick(rf"BETWEEN (?P<n>\d+) AND (?P<m>\d+) ?{UNIT}"), "between"),
    # "59-15 DAYS BEFORE DEPARTURE", "FROM 59 TO 15 DAYS BEFORE": a band between two bounds.
    (Quick(rf"(?:FROM )?(?P<n>\d+) ?(?:-|TO) ?(?P<m>\d+) ?{UNIT} {BEFORE}"), "between"),
    (
        Quick(
            rf"(?:MORE THAN|OVER|GREATER THAN|EARLIER THAN|BEYOND|AT LEAST|MINIMUM OF|MINIMUM|"
            rf"UP TO|UNTIL|NO LATER THAN|LATEST) (?P<n>\d+) ?{UNIT} {BEFORE}"
        ),
        "min",
    ),
    (Quick(rf"(?P<n>\d+) ?{UNIT} OR MORE {BEFORE}"), "min"),
    (
        Quick(
            rf"(?:LESS THAN|WITHIN|FEWER THAN|UNDER|INSIDE|LAST) (?P<n>\d+) ?{UNIT}"
            rf"(?: {BEFORE}| OF (?:THE )?(?:SCHEDULED )?(?:DEPARTURE|TRAVEL|FLIGHT))"
        ),
        "max",
    ),
    (Quick(rf"(?P<n>\d+) ?{UNIT} OR LESS {BEFORE}"), "max"),
    # "IF CANCELLED 30 DAYS BEFORE DEPARTURE": read as at least that long before.
    (Quick(rf"(?P<n>\d+) ?{UNIT} {BEFORE}"), "min"),
)
PERMITTED = Quick(
    r"^(?:VOLUNTARY )?(?:CANCELL?ATIONS?|REFUNDS?|CANCEL/REFUND|CANCELL?ATION/REFUND|"
    r"REFUND/CANCELL?ATION|CHANGES?/CANCELL?ATIONS?|CANCELL?ATIONS?/REFUNDS?)"
    r" (?:ARE |IS )?(?:PERMITTED|ALLOWED|POSSIBLE)(?: FOR (?:CANCEL|REFUND|NO[- ]?SHOW))?"
    r"(?: AT ANY ?TIME| ANY ?TIME| BEFORE (?:THE )?DEPARTURE| AFTER (?:THE )?DEPARTURE)?"
    r"(?: WITHIN (?:THE )?TICKET VALIDITY(?: PERIOD)?)?$"
)
OTHERWISE = re.compile(
    r"^(?:OTHERWISE|ELSE|THEN|THEREAFTER|AFTER THAT|IN ALL OTHER CASES|IN OTHER CASES|LATER)\b"
)

NO_SHOW = Quick(
    r"NO[- ]?SHOWS?\b|FAIL(?:S|URE|ED)? TO (?:SHOW|BOARD|CHECK[- ]IN|CANCEL)|MISSED FLIGHT|"
    r"DID NOT (?:SHOW|TRAVEL|BOARD)"
)
# A seller's charge for handling a refund or exchange (an agency's or a sales channel's), not the
# fare's refund penalty: a table of them is no fare rule (CONTRACT.md), in any language.
SERVICE_FEE = Quick(
    r"SERVICE (?:FEE|CHARGE)S?|HANDLING (?:FEE|CHARGE)S?|AGENCY FEES?|TICKETING FEES?|"
    r"FRAIS DE (?:SERVICES?|DOSSIER|GESTION|TRAITEMENT)|FRAIS D'AGENCE|"
    r"SERVICEGEB[ÜU]HR|SERVICEENTGELT|BEARBEITUNGSGEB[ÜU]HR|"
    r"CARGOS? POR (?:SERVICIO|GESTI[ÓO]N)|GASTOS DE GESTI[ÓO]N|TASAS? DE SERVICIO|"
    r"DIRITTI DI AGENZIA|COSTI DI SERVIZIO|TAXA DE SERVI[ÇC]O"
)
AFTER = Quick(
    r"AFTER (?:THE )?(?:SCHEDULED )?DEPARTURE|AFTER TRAVEL (?:HAS )?(?:COMMENCED|STARTED)|"
    r"PARTIALLY USED|PARTLY USED|AFTER COMMENCEMENT"
)
BEFORE_DEP = Quick(
    rf"{BEFORE} (?:THE )?(?:SCHEDULED )?(?:DEPARTURE|TRAVEL|FIRST FLIGHT)|BEFORE TRAVEL|"
    r"UNUSED TICKETS?|WHOLLY UNUSED|FULLY UNUSED"
)
ANY_TIME = Quick(r"\bANY ?TIME\b|AT ALL TIMES")

NON_REFUNDABLE_TEXT = Quick(
    r"NON[- ]?REFUNDABLE|\bNONREF\b|NOT REFUNDABLE|NO REFUNDS?\b(?! ?(?:FEE|CHARGE|PENALTY))|"
    r"REFUNDS? (?:IS |ARE )?NOT (?:PERMITTED|ALLOWED|POSSIBLE|AVAILABLE)|"
    r"CANCELL?(?:ATION)?S?(?:/REFUNDS?)? (?:IS |ARE )?NOT PERMITTED|"
    r"(?:TICKET|FARE) HAS NO (?:REFUND )?VALUE|NO VALUE|"
    r"(?:TICKET|FARE|VALUE|AMOUNT PAID) (?:IS |WILL BE |SHALL BE )?FORFEIT(?:ED)?\b|"
    # The same in the languages fare rules most often come in: plain enough to read here.
    r"NON[- ]?REMBOURSABLE|PAS REMBOURSABLE|AUCUN REMBOURSEMENT|NICHT ERSTATTBAR|"
    r"NICHT ERSTATTUNGSF|KEINE ERSTATTUNG|NO (?:ES )?REEMBOLSABLE|SIN REEMBOLSO|"
    r"NON RIMBORSABILE|NESSUN RIMBORSO|N[ÃA]O REEMBOLS[ÁA]VEL|NIET RESTITUEERBAAR|"
    r"GEEN RESTITUTIE|EJ [ÅA]TERBETALNINGSBAR|IKKE REFUNDERBAR"
)
FREE = Quick(
    r"FREE OF (?:CHARGE|COST)|WITHOUT (?:ANY )?(?:CHARGE|FEE|PENALTY|PENALTIES|COST)|"
    r"NO (?:CANCELL?ATION |REFUND )?(?:CHARGE|FEE|PENALTY)\b|FULLY REFUNDABLE|"
    r"FULL(?:Y)? REFUND(?:ABLE|ED)?\b|REFUNDABLE IN FULL|FREE (?:CANCELL?ATION|REFUND)|"
    r"(?:PENALTY|CHARGE|FEE):? (?:NIL|NONE)\b|PENALTY-FREE|FEE-FREE|CHARGE-FREE|"
    r"^NO PENALT(?:Y|IES)(?: APPLY| APPLIES)?(?: UNLESS OTHERWISE SPECIFIED)?$"
)
BARE_FREE = Quick(r"\bFREE\b")
CONDITION = Quick(
    r"\b(?:IF|ONLY|PROVIDED|WHEN|UNLESS|EXCEPT|SUBJECT TO|MEMBERS?|HOLDERS?|STATUS|ELITE|"
    r"CORPORATE|UPON|REQUIRES?|WITH (?:A |AN )?(?:DOCTOR|CERTIFICATE|PROOF))\b|"
    # "WITHIN 24 HOURS" with no departure named: of booking? of travel? not ours to guess.
    r"\bWITHIN \d+ ?(?:HOURS?|HRS?|H|DAYS?|WEEKS?)\b"
)
PER_UNIT = Quick(
    r"\b(?:PER|EACH|AND) (?:COUPON|SECTOR|SEGMENT|DIRECTION|WAY|FLIGHT|LEG|FARE COMPONENT|"
    r"COMPONENT)S?\b|EACH WAY"
)
PER_BOOKING = Quick(r"\bPER (?:BOOKING|RESERVATION|TRANSACTION|PNR|ORDER)\b")
PER_PASSENGER = Quick(
    r"\b(?:PER|EACH|A|FOR EACH) (?:TICKET|PASSENGER|PERSON|PAX|ADULT|TRAVELL?ER)S?\b"
)
# What a percentage is of: the fare or the ticket (the ticket price), or the base fare.
SHARE_OF = re.compile(
    r"\s?(?:OF|ON) (?:THE )?(?:TOTAL |APPLICABLE |ORIGINAL |PAID |FULL |ADULT )?"
    r"(?:(?P<base>BASE FARE|BASIC FARE|NET FARE|FARE COMPONENT AMOUNT)|"
    r"FARE(?: PAID| AMOUNT)?|TICKET(?: PRICE| VALUE| AMOUNT| FARE)?|AMOUNT PAID|TOTAL(?: PRICE)?|"
    r"PRICE)\b"
)
# "50% OF THE FARE IS REFUNDED", "REFUND OF 50%": the share given back, not the fee.
REFUNDED_SHARE = re.compile(
    r"^(?:\s?OF (?:THE )?(?:TOTAL )?(?:FARE|TICKET(?: PRICE)?|AMOUNT PAID))?\s?"
    r"(?:IS |ARE |WILL BE |SHALL BE |TO BE |CAN BE |MAY BE )?"
    r"(?:REFUNDED|REFUNDABLE|RETURNED|REIMBURSED)\b"
)
REFUNDED_SHARE_BEFORE = re.compile(r"(?:REFUND(?:ED)?|REIMBURSED|RETURNED) (?:OF |AT )?$")
FEE_WORDS = Quick(
    r"CHARGE|FEE|PENALTY|PENALTIES|DEDUCT|RETAIN|RETENTION|COST|SUBJECT TO|PERMITTED FOR|FORFEIT|"
    r"ALLOWED FOR|LESS\b|MINUS"
)
REFUND_TOPIC = Quick(r"CANCEL|REFUND|NO[- ]?SHOW")
CHANGE_TOPIC = Quick(
    r"\bCHANGE[SD]?\b|REISSU|RE-ISSU|REBOOK|REROUT|REVALIDAT|UPGRADE|DATE CHANGE|NAME CHANGE"
)
HIGHER = Quick(r"WHICHEVER IS (?:HIGHER|GREATER|MORE)|THE HIGHER OF|THE GREATER OF")
LOWER = Quick(r"WHICHEVER IS (?:LOWER|LESS|SMALLER)|THE LOWER OF|THE LESSER OF")

INJECTION = Quick(
    r"IGNORE (?:ALL |ANY |THE )?(?:PREVIOUS |PRIOR |ABOVE |EARLIER |OTHER |YOUR )?"
    r"(?:INSTRUCTIONS|RULES|POLICY|POLICIES|PROMPTS?)|DISREGARD (?:ALL |ANY |THE |YOUR )?"
    r"(?:PREVIOUS |PRIOR |ABOVE )?(?:INSTRUCTIONS|RULES|POLICY)|"
    r"\bSYSTEM ?(?:PROMPT|MESSAGE|NOTE|OVERRIDE|INSTRUCTIONS?)?:|\bASSISTANT:|"
    r"YOU ARE (?:NOW )?(?:AN?|THE) |AS AN AI|NEW INSTRUCTIONS|"
    r"(?:APPROVE|ALLOW|AUTHORI[SZ]E) (?:THIS|THE|ALL|A FULL|FULL) (?:REFUNDS?|REQUESTS?|CLAIMS?)|"
    r"(?:RESPOND|ANSWER|REPLY|OUTPUT|CLASSIFY)(?: ONLY)?(?: WITH| AS)?:? [\"']?"
    r"(?:ALLOWED|APPROVED)|"
    r"FARERULECHECK|DECISION ?[:=] ?[\"']?ALLOWED|\"DECISION\"|OVERRIDE (?:THE |ALL )?"
    r"(?:POLICY|RULES|GUARDRAILS?)|PROMPT INJECTION|JAILBREAK|<\|?(?:IM_START|SYSTEM)"
)


class _Foreign:
    """Words and scripts of other languages, found fast: two word lists a `Quick` each (one long
    alternation defeats its literal test) and a character class for other scripts."""

    def __init__(self, *words: str) -> None:
        self.words = tuple(Quick(w) for w in words)
        self.script = re.compile(r"[\u0400-\u04ff\u0600-\u06ff\u3040-\u30ff\u4e00-\u9fff]")

    def search(self, text: str) -> bool:
        return any(w.search(text) for w in self.words) or bool(self.script.search(text))

    def count(self, text: str) -> int:
        found = sum(1 for w in self.words for _ in w.finditer(text))
        return found + (1 if self.script.search(text) else 0)


FOREIGN = _Foreign(
    r"REMBOURS|ANNUL|\bFRAIS\b|ERSTATT|STORNO|GEBÜHR|GEBUEHR|\bNICHT\b|REEMBOLS|CANCELACI|"
    r"\bTARIFA\b|RIMBORS|\bPENALE\b|\bBILLET\b|\bKOSTEN\b|GRATUIT|\bSANS\b|\bAVANT\b|"
    r"\bAPRÈS\b|\bABFLUG",
    r"\bVOR\b|\bNACH\b|\bANTES\b|\bDESPUÉS\b|\bSALIDA\b|\bPARTENZA\b|\bBILJETT|\bAVGIFT|"
    r"\bTARIF\b|\bPRIMA\b|\bDOPO\b|CANCELAMENTO|CANCELLAZION|\bBILHETE|\bBIGLIETT|\bBILLETE|"
    r"\bPARTIDA\b|\bJOURS\b|\bTAGE\b|\bGIORNI\b|\bDÍAS\b|\bDIAS\b",
)
# Function words of the languages fare rules most often come in besides English: two in one
# statement mean it is not written in English, whatever else it holds. (Not those that are also
# codes or English: DO, NON, E, O, Y, LA, ET, PAR, SIN, PRO, IL, AU.)
FOREIGN_WORDS = re.compile(
    r"\b(?:DE|DA|DAS|DOS|LE|LES|DES|DU|AUX|DER|DIE|DEN|DEM|VON|UND|ODER|DEL|DELLA|DELLE|DEI|OU|"
    r"POR|PARA|CON|SANS|AVEC|BIS|ZU|ZUR|ZUM|EL|LOS|LAS|GLI|UNE|UNA|EIN|EINE|EINER|ENTRE|TRA|ATÉ|"
    r"JUSQU|HASTA|FINO|NÃO|NICHT|KEINE)\b"
)
HEADING_MAX = 48


_DECIMAL_COMMA = re.compile(r"\d+,\d{1,2}")


def window_in(clause: str) -> Window | None:
    """The timing window a clause names ("MORE THAN 7 DAYS BEFORE DEPARTURE"), if any."""
    found = window_match(clause)
    return found[0] if found else None


def window_match(clause: str) -> tuple[Window, re.Match[str]] | None:
    """The timing window a clause names, and the words that name it."""
    for pattern, shape in WINDOW_PATTERNS:
        m = pattern.search(clause)
        if not m:
            continue
        unit = m.group("unit").rstrip("S")
        hours = UNIT_HOURS.get(unit, 1.0)
        n = float(m.group("n")) * hours
        if shape == "between":
            other = float(m.group("m")) * hours
            return Window(min(n, other), max(n, other)), m
        if shape == "min":
            return Window(min_hours=n), m
        return Window(max_hours=n), m
    return None


def written_amounts(text: str) -> list[tuple[Decimal, str]]:
    """Every amount the text writes with a currency ("USD 80", "80 EUR", "$80"), as written."""
    found: list[tuple[Decimal, str]] = []
    for m in AMOUNT.finditer(text.upper()):
        currency = m.group("code1") or m.group("code2")
        currency = currency or SYMBOLS.get(m.group("sym1") or m.group("sym2") or "")
        value = parse_number(m.group("num1") or m.group("num2") or m.group("num3"))
        if currency is not None and value is not None:
            found.append((value, currency))
    return found


def parse_number(raw: str) -> Decimal | None:
    # "150,00" is a decimal comma; "1,250" and "1,250.00" group thousands.
    raw = raw.replace(",", ".") if _DECIMAL_COMMA.fullmatch(raw) else raw.replace(",", "")
    try:
        return Decimal(raw)
    except InvalidOperation:
        return None
