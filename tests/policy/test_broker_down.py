"""Redis down: what committed stays committed, a task that could not be queued is logged, and the next
scheduled run does its work. The broker is a real Redis URL nothing answers on (`unreachable_broker`)."""

import logging
import time
from datetime import timedelta

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone

from config.celery import app as celery_app
from licensing.models import ProductInstance
from policy.deadlines import evaluate_reporting_deadlines
from policy.models import AccountPolicy, Alert
from policy.services import create_policy
from policy.tasks import send_account_overdue_digest, send_overdue_digests
from smartaccounts.models import SmartAccount
from tests.factories import default_va, make_account, make_user

from .helpers import make_instance, make_license

pytestmark = pytest.mark.django_db(transaction=True)  # on_commit runs at real commits, as in a request
D = timedelta(days=1)
STRICT = {
    "unenforced_perpetual": (30, 90, 14, True),
    "unenforced_subscription": (90, 365, 90, True),
    "enforced": (0, 0, 0, False),
    "export_controlled": (0, 0, 0, False),
}


def warnings_about(caplog, task_name: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and task_name in r.getMessage()]


def overdue_accounts(n: int) -> list[SmartAccount]:
    lic = make_license()
    accounts = [make_account() for _ in range(n)]
    for account in accounts:
        make_instance(default_va(account), usage={lic: 1}, first_use_at=timezone.now() - 200 * D)
    evaluate_reporting_deadlines()
    return accounts


def test_a_task_queued_after_commit_with_redis_down_is_logged_and_the_commit_stands(unreachable_broker, caplog):
    from config.celery import enqueue_on_commit  # every task queued after a commit goes through it

    (account,) = overdue_accounts(1)
    started = time.monotonic()
    with transaction.atomic():
        SmartAccount.objects.filter(pk=account.pk).update(name="Renamed Networks")
        enqueue_on_commit(send_account_overdue_digest, account.pk)
    assert time.monotonic() - started < 20  # one attempt, bounded by the broker's socket timeouts
    assert SmartAccount.objects.get(pk=account.pk).name == "Renamed Networks"
    assert len(warnings_about(caplog, "policy.send_account_overdue_digest")) == 1


def test_saving_an_account_policy_in_the_admin_with_redis_down_saves_it_and_sets_the_deadlines(
    unreachable_broker, client
):
    (account,) = overdue_accounts(1)
    staff = make_user("ops@operator.example.net", is_staff=True, is_superuser=True)
    lenient = create_policy(
        actor=staff, name="Lenient", rules={**STRICT, "unenforced_perpetual": (365, 365, 365, False)}
    )
    client.force_login(staff)
    response = client.post(
        "/admin/policy/accountpolicy/add/", {"smart_account": account.pk, "policy": lenient.pk}, follow=False
    )
    assert response.status_code == 302
    assert AccountPolicy.objects.get(smart_account=account).policy == lenient
    instance = ProductInstance.objects.get(smart_account=account)
    assert instance.reporting_status == "ok"  # in the same transaction, no worker needed
    assert not Alert.objects.filter(product_instance=instance, resolved_at__isnull=True).exists()


def test_digests_that_could_not_be_queued_go_out_with_the_next_days_digest(unreachable_broker, caplog):
    accounts = overdue_accounts(2)
    assert send_overdue_digests() == 2  # the fan-out of the daily run, in a worker that lost Redis
    assert len(warnings_about(caplog, "policy.send_account_overdue_digest")) == 2
    assert mail.outbox == []
    assert Alert.objects.filter(kind="overdue", notified_at__isnull=True).count() == 2  # nothing marked sent

    celery_app.conf.task_always_eager = True  # Redis is back; the next day's run
    send_overdue_digests.delay().get()
    assert sorted(m.subject.split(":")[0] for m in mail.outbox) == sorted(a.name for a in accounts)
    assert not Alert.objects.filter(kind="overdue", notified_at__isnull=True).exists()
