"""The daily digest: each account's Admins hear once about instances that became overdue."""

from datetime import timedelta

import pytest
from django.core import mail

from policy.deadlines import evaluate_reporting_deadlines
from policy.models import Alert
from policy.tasks import send_overdue_digests
from smartaccounts.models import Event
from tests.factories import default_va, grant, make_user

from .helpers import T0, make_instance, make_license

pytestmark = pytest.mark.django_db
D = timedelta(days=1)


def test_admins_get_one_digest_of_newly_overdue_instances_and_never_the_same_one_twice(
    account, other_account, django_capture_on_commit_callbacks
):
    grant(make_user("viewer@acme.example.com"), "viewer", account=account)
    second_admin = grant(make_user("cio@acme.example.com"), "admin", account=account)
    lic = make_license()
    make_instance(default_va(account), usage={lic: 1}, first_use_at=T0, hostname="dc1-core")
    make_instance(default_va(account), usage={lic: 1}, first_use_at=T0 + 85 * D, hostname="dc1-edge")  # due soon
    make_instance(default_va(other_account), usage={lic: 1}, first_use_at=T0, hostname="globex-core")
    evaluate_reporting_deadlines(now=T0 + 100 * D)

    with django_capture_on_commit_callbacks(execute=True):
        assert send_overdue_digests.delay().get() == 2
    by_account = {m.subject.split(":")[0]: m for m in mail.outbox}
    ours = by_account[account.name]
    assert sorted(ours.to) == sorted([account.created_by.email, second_admin.email])  # Admins only
    assert "dc1-core" in ours.body and "dc1-edge" not in ours.body and "globex-core" not in ours.body
    assert "report was due" in ours.body and f"/accounts/{account.pk}/alerts/" in ours.body
    assert "globex-core" in by_account[other_account.name].body
    assert not Alert.objects.filter(kind="overdue", notified_at__isnull=True).exists()
    assert Event.objects.filter(action="policy.overdue_digest_sent", smart_account=account).count() == 1

    mail.outbox.clear()
    evaluate_reporting_deadlines(now=T0 + 101 * D)
    with django_capture_on_commit_callbacks(execute=True):
        assert send_overdue_digests.delay().get() == 0
    assert mail.outbox == []  # nothing newly overdue: no mail

    evaluate_reporting_deadlines(now=T0 + 180 * D)  # dc1-edge (first use T+85) is overdue now
    with django_capture_on_commit_callbacks(execute=True):
        send_overdue_digests.delay().get()
    assert len(mail.outbox) == 1 and "dc1-edge" in mail.outbox[0].body and "dc1-core" not in mail.outbox[0].body
