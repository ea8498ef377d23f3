"""An estate for the Cisco-compatible paths: an account with two VAs, licenses, a device and people per role."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest

from licensing.models import License, ProductInstance
from smartaccounts.models import SmartAccount, User, VirtualAccount
from tests.factories import default_va, grant, make_account, make_user, make_va
from tests.licensing.helpers import deposit, make_license, register


@dataclass
class Estate:
    account: SmartAccount
    admin: User
    user: User
    viewer: User
    va1: VirtualAccount
    va2: VirtualAccount
    perpetual: License
    term: License
    device: ProductInstance
    other: SmartAccount  # another tenant
    other_va: VirtualAccount


@pytest.fixture
def estate(db) -> Estate:
    account = make_account(name="Acme Networks", domain="acme.example.com")
    admin = account.created_by
    va1, va2 = make_va(account, "VA1"), make_va(account, "Lab 02")
    perpetual = make_license("C9300 Network Advantage")
    term = make_license("C9300 DNA Advantage", license_type="term")
    deposit(va1, perpetual, 10)
    today = dt.date.today()
    deposit(va1, term, 5, start=today - dt.timedelta(days=10), end=today + dt.timedelta(days=355))
    device = register(va1, {perpetual: 2}, serial="FOC1234X0AB", hostname="edge-1", pid="C9300-48P")
    user = grant(make_user("ulrich@acme.example.com"), "user", account=account)
    viewer = grant(make_user("vera@acme.example.com"), "viewer", account=account)
    other = make_account(name="Globex Secret Holdings", domain="globex.example.org")
    other_va = make_va(other, "Secret VA")
    assert default_va(account).name
    return Estate(account, admin, user, viewer, va1, va2, perpetual, term, device, other, other_va)
