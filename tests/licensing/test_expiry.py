"""Term licenses expire the day after their end date, as ledger entries, once; the pages show it."""

import datetime as dt

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from licensing.models import LedgerEntry, LicenseLot
from licensing.services import expire_term_lots
from licensing.tasks import expire_term_lots as expire_task
from smartaccounts.models import Event
from tests.factories import default_va, make_va

from .helpers import assert_ledger_clean, balance, deposit, make_license, register

pytestmark = pytest.mark.django_db


def test_lots_past_their_end_date_expire_as_entries_and_only_once(account):
    va = default_va(account)
    term = make_license("Catalyst 9300 DNA Essentials", license_type="term")
    today = timezone.localdate()
    deposit(va, term, 5, end=today - dt.timedelta(days=1))
    deposit(va, term, 3, end=today)  # valid through today
    register(va, {term: 6})
    result = expire_term_lots()
    assert (result.lots, result.licenses) == (1, 5)
    assert balance(va, term).purchased == 3 and balance(va, term).balance == -3  # still in use: a shortage
    expired = LicenseLot.objects.get(expired_at__isnull=False)
    assert (expired.quantity, expired.expired_quantity) == (0, 5)
    assert LedgerEntry.objects.filter(kind="expiry").get().quantity == -5
    assert "Term licenses expired in DEFAULT: 5 ×" in Event.objects.get(action="license.expired").message
    again = expire_term_lots()
    assert (again.lots, again.licenses) == (0, 0)
    assert LedgerEntry.objects.filter(kind="expiry").count() == 1
    assert_ledger_clean()


def test_only_lots_in_a_va_expire_and_perpetual_never(account):
    va = make_va(account, "Lab")
    deposit(va, make_license(), 4)
    assert expire_term_lots(today=timezone.localdate() + dt.timedelta(days=36500)).lots == 0


def test_the_daily_beat_entry_runs_the_task_and_expires_within_a_day():
    task = PeriodicTask.objects.get(task="licensing.expire_term_lots")
    assert task.enabled and task.crontab is not None and task.crontab.hour == "0"
    assert 0 < task.expire_seconds <= 24 * 3600


def test_the_task_expires_lots(account):
    term = make_license(license_type="term")
    deposit(default_va(account), term, 2, end=timezone.localdate() - dt.timedelta(days=3))
    assert expire_task.delay().get() == {"lots": 1, "licenses": 2, "accounts": 1}


def test_the_command_expires_as_of_a_given_day(account, capsys):
    term = make_license(license_type="term")
    deposit(default_va(account), term, 2, end=dt.date(2030, 6, 30))
    call_command("expire_licenses", "--today", "2030-07-01")
    assert "2 license(s) in 1 lot(s) expired" in capsys.readouterr().out


def test_the_licenses_page_shows_expired_and_expiring_licenses(client, account):
    va = default_va(account)
    today = timezone.localdate()
    gone = make_license("Secure Firewall FPR2130 Threat Defense", license_type="term")
    soon = make_license("Catalyst 9800 DNA Essentials AP", license_type="term")
    later = make_license("Umbrella DNS Essentials", license_type="subscription")
    deposit(va, gone, 4, end=today - dt.timedelta(days=2))
    deposit(va, soon, 10, end=today + dt.timedelta(days=20))
    deposit(va, later, 7, end=today + dt.timedelta(days=75))
    expire_term_lots()
    client.force_login(account.created_by)
    page = client.get(reverse("licenses", args=[account.pk])).content.decode()
    assert "Expired: 4" in page
    assert f"Expiring ≤30 days: 10, first {today + dt.timedelta(days=20):%Y-%m-%d}" in page
    assert "Expiring ≤90 days: 7" in page
    only_expired = client.get(reverse("licenses", args=[account.pk]), {"alert": "expired"}).content.decode()
    assert gone.name in only_expired and soon.name not in only_expired
