"""The stale hand-over task through a real Celery worker on Redis, against PostgreSQL."""

from datetime import timedelta

import pytest
from django.utils import timezone

from licensing.models import HandOver
from licensing.services import transfer_to_customer
from licensing.tasks import expire_stale_hand_overs
from tests.factories import make_account

from .helpers import assert_ledger_consistent, held, make_license, make_order, make_partner, make_sku

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_real_worker_declines_hand_overs_pending_for_30_days(celery_worker_process):
    partner = make_partner()
    customer = make_account(name="Globex", domain="globex.example.com")
    line = make_order(partner, [(make_sku(make_license()), 10)]).lines.get()
    stale = transfer_to_customer(actor=partner.created_by, order_lines={line: 6}, customer_account=customer)
    HandOver.objects.filter(pk=stale.pk).update(created_at=timezone.now() - timedelta(days=31))
    assert expire_stale_hand_overs.delay().get(timeout=60) == {"expired": 1}
    stale.refresh_from_db()
    assert stale.status == HandOver.Status.EXPIRED
    assert held(partner, line) == 10
    assert expire_stale_hand_overs.delay().get(timeout=60) == {"expired": 0}
    assert_ledger_consistent()
