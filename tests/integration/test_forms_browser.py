"""The Camunda forms in bpmn/ as an operator meets them in Tasklist: rendered by form-js 1.8.7 in
headless Chromium, filled by label with real key strokes and clicks, and submitted."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fakes.form_browser import FormBrowser, FormCommandError
from tests.support import REPO_ROOT

FORMS = REPO_ROOT / "bpmn"
# Stable and git-ignored (build/), so that a reviewer can look at what the operator sees.
SCREENSHOTS = REPO_ROOT / "build" / "form-screenshots"

PAYMENT_FORM = FORMS / "ticket-refund-payment.form"
PAYMENT_CASE: dict[str, Any] = {
    "bookingId": "PNR-7QK2LM",
    "paymentError": "payment gateway answered HTTP 503: maintenance",
    "apiErrorCount": 3,
    "fareRuleCheck": "WITH_PENALTY",
    "penaltyAmount": 150.0,
    "ticketPrice": 620.0,
    "refundAmount": 470.0,
    "currency": "USD",
}


@pytest.fixture
def payment_form(form_browser: FormBrowser) -> FormBrowser:
    """The payment form opened on a failed refund payment, imported without a warning."""
    assert form_browser.form_js_version == "1.8.7"
    assert form_browser.render(PAYMENT_FORM, PAYMENT_CASE) == []
    return form_browser


def test_payment_form_shows_the_case_read_only(payment_form: FormBrowser) -> None:
    shown = {field.label: field for field in payment_form.fields() if field.label}

    assert shown["Booking"].value == "PNR-7QK2LM"
    assert shown["Last payment error"].value == PAYMENT_CASE["paymentError"]
    assert shown["Ticket price"].value == "620"
    assert shown["Refund amount"].value == "470"
    assert all(shown[label].disabled for label in ("Booking", "Penalty", "Ticket price"))
    assert not shown["Refund amount"].disabled
    assert shown["Refund amount"].required
    assert shown["Resolution"].options[0] == "Retry the payment now"
    assert shown["Resolution"].value is None
    assert "Refund payment failed" in payment_form.text()
    with pytest.raises(FormCommandError, match="disabled"):
        payment_form.fill("Ticket price", "1")

    path = payment_form.screenshot(SCREENSHOTS / "ticket-refund-payment.png")
    print(f"screenshot: {path}")
    assert path.stat().st_size > 10_000
    assert payment_form.console_errors() == []


def test_payment_form_completes_with_the_operators_choice(payment_form: FormBrowser) -> None:
    assert payment_form.fill("Refund amount", "150.00") == "150.00"
    payment_form.choose("Resolution", "Retry the payment now")

    submission = payment_form.submit()

    assert submission.errors == {}
    assert submission.shown_errors == {}
    assert submission.data["paymentResolution"] == "RETRY"
    assert submission.data["refundAmount"] == 150
    assert submission.data["currency"] == "USD"
    # Disabled fields are the case's facts: Tasklist sends none of them back.
    assert "ticketPrice" not in submission.data
    assert payment_form.console_errors() == []


def test_payment_form_cannot_complete_without_a_resolution(payment_form: FormBrowser) -> None:
    payment_form.fill("Currency", "usd")

    submission = payment_form.submit()

    assert set(submission.errors) == {"Field_paymentResolution", "Field_currency"}
    assert submission.shown_errors["Resolution"] == ["Field is required."]
    # form-js 1.8.7 has no message of its own for a pattern: the operator reads the regex.
    assert submission.shown_errors["Currency"] == ["Field must match pattern ^[A-Z]{3}$."]
    assert payment_form.field("Resolution").errors == ["Field is required."]


def test_the_browser_reaches_nothing_but_the_page(form_browser: FormBrowser) -> None:
    image = {"id": "Logo", "type": "image", "source": "http://forms.invalid/logo.png"}
    form_browser.render({"type": "default", "schemaVersion": 4, "components": [image]}, {})

    assert "blocked request: http://forms.invalid/logo.png" in form_browser.console_errors()
