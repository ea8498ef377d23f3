"""Licensing pages answer with a fixed number of queries, whatever the number of licenses, VAs and devices.

Each page is measured on a small tenant (10 instances) and on a big one (500 instances, more
licenses, VAs and lots); the counts must be equal, and within the 13-query budget (12 for the pages the
benchmark measures, its target).
"""

import datetime as dt
import secrets

import pytest
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from licensing.models import LicenseAccountTotal, LicenseBalance, ProductInstance, ProductInstanceUsage
from tests.factories import make_va
from tests.isolation import build_tenant

from .helpers import assert_ledger_clean, deposit, make_license, token_for

pytestmark = pytest.mark.django_db

BUDGET = 13
BENCHMARKED = {"licenses": 12, "va_licenses": 12, "instances": 12, "account_home": 12}  # bench/report.py


def populate(tenant, *, instances: int, licenses: int, vas: int):
    """Licenses deposited across VAs (some terms expiring) and `instances` devices using them.

    Devices are inserted in bulk with their usage, and the balances moved by the same amounts,
    as the ledger would (checked with verify_ledger), to keep the big tenant quick to build.
    """
    extra = [make_va(tenant.account, f"Site {n}-{secrets.token_hex(2)}", parent=tenant.va_a) for n in range(vas)]
    targets = [tenant.va_a, tenant.va_a_child, tenant.va_b, *extra]
    today = timezone.localdate()
    lics = []
    for n in range(licenses):
        lic = make_license(license_type="term" if n % 3 else "perpetual")
        va = targets[n % len(targets)]
        deposit(va, lic, 20, end=today + dt.timedelta(days=20 + n) if n % 3 else None)
        lics.append((lic, va))
    token = token_for(tenant.va_a)
    made = ProductInstance.objects.bulk_create(
        ProductInstance(
            smart_account=tenant.account,
            virtual_account=lics[n % len(lics)][1],
            pid="C9300-48P",
            serial_number=f"FOC{n:06d}{secrets.token_hex(2).upper()}",
            hostname=f"sw-{n:04d}",
            product_family="Catalyst 9300",
            registration_token=token,
        )
        for n in range(instances)
    )
    ProductInstanceUsage.objects.bulk_create(
        ProductInstanceUsage(product_instance=i, smart_account=tenant.account, license=lics[n % len(lics)][0], count=1)
        for n, i in enumerate(made)
    )
    for n, (lic, va) in enumerate(lics):
        used = len(range(n, instances, len(lics)))
        LicenseBalance.objects.filter(virtual_account=va, license=lic).update(in_use=F("in_use") + used)
        LicenseAccountTotal.objects.filter(smart_account=tenant.account, license=lic).update(
            in_use=F("in_use") + used, short_vas=int(used > 20)
        )
    assert_ledger_clean()
    return lics


def count_queries(client, url, params=None) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, params or {})
        if getattr(response, "streaming", False):
            b"".join(response.streaming_content)
    assert response.status_code == 200, (url, response.status_code)
    return len(ctx.captured_queries)


PAGES = [
    ("licenses", "account", {}),
    ("licenses", "account", {"alert": "any", "sort": "balance", "dir": "desc"}),
    ("licenses_csv", "account", {}),
    ("va_licenses", "va", {"subtree": "1"}),
    ("license_detail", "license", {}),
    ("va_license_detail", "va_license", {"subtree": "1"}),
    ("instances", "account", {}),
    ("instances", "account", {"q": "sw-00", "status": "active"}),
    ("va_instances", "va", {"subtree": "1"}),
    ("instances_csv", "account", {}),
    ("va_tokens", "va", {}),
    ("compliance", "account", {}),
    ("orders", "account", {}),
    ("account_home", "account", {}),
]


def url_for(name, kind, tenant, lic):
    account = tenant.account.pk
    args = {
        "account": [account],
        "va": [account, tenant.va_a.pk],
        "license": [account, lic.pk],
        "va_license": [account, tenant.va_a.pk, lic.pk],
    }[kind]
    return reverse(name, args=args)


@pytest.mark.parametrize(("name", "kind", "params"), PAGES, ids=[f"{p[0]}-{i}" for i, p in enumerate(PAGES)])
def test_page_queries_do_not_grow_with_the_rows(client, name, kind, params):
    small, big = build_tenant("Small"), build_tenant("Big")
    small_lic = populate(small, instances=10, licenses=3, vas=1)[0][0]
    big_lic = populate(big, instances=500, licenses=30, vas=12)[0][0]
    # An account-wide role and a VA-scoped one (whose reads go through the VA subquery).
    for who in ("viewer", "va_viewer"):
        client.force_login(getattr(small, who))
        small_count = count_queries(client, url_for(name, kind, small, small_lic), params)
        client.force_login(getattr(big, who))
        big_count = count_queries(client, url_for(name, kind, big, big_lic), params)
        assert big_count == small_count, (
            f"{name} ({who}): {small_count} queries with 10 instances, {big_count} with 500"
        )
        assert big_count <= BENCHMARKED.get(name, BUDGET), f"{name} ({who}): {big_count} queries"
