"""The hand-over e-mails, word for word (their text lives in templates/licensing/email/)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from licensing.models import HandOver
from licensing.services import accept_hand_over, cancel_hand_over, decline_hand_over, transfer_to_customer
from licensing.services.handover import expire_stale_hand_overs

from .test_handover import setup  # noqa: F401  (the partner, the customer and order SO-1001)

pytestmark = pytest.mark.django_db

LINES = (
    "  - 2 × Catalyst 9300 DNA Advantage (order SO-1001, line 1, SKU C9300-DNA-A-48)\n"
    "  - 1 × Catalyst 9300 DNA Essentials Term (order SO-1001, line 2, SKU C9300-DNA-E-48-3Y)"
)


def _base() -> str:
    return settings.PORTAL_BASE_URL.rstrip("/")


@pytest.fixture
def offered(setup, django_capture_on_commit_callbacks):  # noqa: F811
    s = setup
    with django_capture_on_commit_callbacks(execute=True):
        hand_over = transfer_to_customer(
            actor=s["partner_admin"], order_lines={s["line_1"]: 2, s["line_2"]: 1}, customer_account=s["customer"]
        )
    return s, hand_over


def _mail_to(email: str, subject_part: str):
    [message] = [m for m in mail.outbox if email in m.to and subject_part in m.subject]
    return message


def test_the_offer_mail_lists_the_lines_and_the_link(offered):
    s, hand_over = offered
    message = _mail_to(s["customer_admin"].email, "is handing licenses over")
    assert message.subject == "Northwind Partners Holding is handing licenses over to Globex Manufacturing"
    assert message.body == (
        "Northwind Partners Holding has handed these licenses over to your Smart Account Globex Manufacturing:\n\n"
        f"{LINES}\n\n"
        "Accept them into a Virtual Account, or decline them with a reason, here:\n"
        f"{_base()}{reverse('hand_over_incoming_detail', args=[s['customer'].pk, hand_over.pk])}\n\n"
        "A hand-over that nobody accepts within 30 days is declined automatically."
    )


def test_the_acceptance_mail_tells_the_partner(offered, django_capture_on_commit_callbacks):
    s, hand_over = offered
    with django_capture_on_commit_callbacks(execute=True):
        accept_hand_over(actor=s["customer_admin"], hand_over=hand_over, virtual_account=s["customer_va"])
    message = _mail_to(s["partner_admin"].email, "accepted")
    assert message.body.startswith(f"Globex Manufacturing accepted the licenses you handed over:\n\n{LINES}\n\n")
    link = reverse("hand_over_outgoing_detail", args=[s["partner"].pk, hand_over.pk])
    assert message.body.endswith(f"\n\n{_base()}{link}")


def test_the_decline_mail_quotes_the_reason(offered, django_capture_on_commit_callbacks):
    s, hand_over = offered
    with django_capture_on_commit_callbacks(execute=True):
        decline_hand_over(actor=s["customer_admin"], hand_over=hand_over, reason="Wrong <SKU> & term.")
    message = _mail_to(s["partner_admin"].email, "declined")
    assert message.body.startswith(
        "Globex Manufacturing declined the licenses you handed over, giving this reason:\n\n"
        f"  Wrong <SKU> & term.\n\n{LINES}\n\nThe licenses are back in your holding account.\n{_base()}/"
    )


def test_the_cancel_mail_tells_the_customer_there_is_nothing_to_do(offered, django_capture_on_commit_callbacks):
    s, hand_over = offered
    with django_capture_on_commit_callbacks(execute=True):
        cancel_hand_over(actor=s["partner_admin"], hand_over=hand_over)
    message = _mail_to(s["customer_admin"].email, "cancelled")
    assert message.body == (
        "Northwind Partners Holding took back the licenses it had handed over to Globex Manufacturing:\n\n"
        f"{LINES}\n\nThere is nothing to do."
    )


def test_the_expiry_mails_tell_both_sides(offered, django_capture_on_commit_callbacks):
    s, hand_over = offered
    HandOver.objects.filter(pk=hand_over.pk).update(created_at=timezone.now() - timedelta(days=31))
    with django_capture_on_commit_callbacks(execute=True):
        assert expire_stale_hand_overs() == 1
    to_partner = _mail_to(s["partner_admin"].email, "declined automatically")
    assert to_partner.body == (
        "Nobody at Globex Manufacturing accepted these licenses within 30 days, so they are back in your holding "
        f"account:\n\n{LINES}\n\nHand them over again when the customer is ready."
    )
    to_customer = _mail_to(s["customer_admin"].email, "declined automatically")
    assert to_customer.body == (
        "Nobody accepted these licenses from Northwind Partners Holding within 30 days, so they went back to the "
        f"partner:\n\n{LINES}\n\nAsk Northwind Partners Holding to hand them over again if you want them."
    )
