"""The instances page's keyset cursor and its serial-number search, at their edges.

The cursor is a row comparison on (hostname, id): devices that share a host name (or have none) are
each listed once, in id order, forwards and back. A serial number typed in full is a serial number
whoever types it: a VA-scoped user who types the serial of a device outside their VAs finds nothing
(and not the devices of their own VAs whose names merely contain it).
"""

import re

import pytest
from django.urls import reverse

from licensing.views import InstancesView
from tests.factories import default_va
from tests.isolation import build_tenant

from .helpers import register, token_for

pytestmark = pytest.mark.django_db


def listed(client, url, **params) -> tuple[list[int], object]:
    response = client.get(url, params)
    return [row.pk for row in response.context["page"].rows], response.context["page"]


def test_devices_sharing_a_host_name_are_each_listed_once_forwards_and_back(client, account, monkeypatch):
    va = default_va(account)
    token = token_for(va)
    named = [register(va, hostname="edge", token=token) for _ in range(5)]
    unnamed = [register(va, hostname="", token=token) for _ in range(4)]
    last = register(va, hostname="zeta", token=token)
    expected = [d.pk for d in unnamed] + [d.pk for d in named] + [last.pk]  # ("" first), then id order
    monkeypatch.setattr(InstancesView, "page_size", 3)
    client.force_login(account.created_by)
    url = reverse("instances", args=[account.pk])

    pages, params = [], {}
    while True:
        ids, page = listed(client, url, **params)
        pages.append(ids)
        if not page.next_cursor:
            break
        params = {"after": page.next_cursor}
    assert sum(pages, []) == expected and all(len(p) == 3 for p in pages[:-1])

    back = []
    while page.previous_cursor:
        ids, page = listed(client, url, before=page.previous_cursor)
        back.insert(0, ids)
    assert sum(back, []) == expected[: len(expected) - len(pages[-1])]
    assert page.is_first


def test_a_full_serial_number_outside_the_users_vas_finds_nothing():
    tenant = build_tenant()
    mine = register(tenant.va_a, hostname="lab-switch", serial="FOC1111AAAA")
    register(tenant.va_b, hostname="finance-router", serial="FOC2222BBBB")
    # A device of the user's own VA whose host name contains the other serial number.
    register(tenant.va_a, hostname="spare-for-FOC2222BBBB", serial="FOC3333CCCC")
    from django.test import Client

    client = Client()
    client.force_login(tenant.va_user)
    url = reverse("instances", args=[tenant.account.pk])
    assert listed(client, url, q="foc1111aaaa")[0] == [mine.pk]
    assert listed(client, url, q="FOC2222BBBB")[0] == []  # a serial number, not a name fragment
    assert "finance-router" not in client.get(url, {"q": "FOC2222BBBB"}).content.decode()
    names = re.findall(r'/instances/\d+/">([^<]+)</a>', client.get(url, {"q": "spare"}).content.decode())
    assert names == ["spare-for-FOC2222BBBB"]
