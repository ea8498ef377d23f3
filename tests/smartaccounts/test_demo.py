"""The demo data: the accounts, tree and people other demo modules rely on; running it twice changes nothing."""

import io

import pytest
from django.core.management.base import OutputWrapper
from django.core.management.color import no_style

from smartaccounts import selectors
from smartaccounts.demo import DemoContext, seed
from smartaccounts.models import Event, Role, SmartAccount, User, VirtualAccount

pytestmark = pytest.mark.django_db


def run_seed() -> DemoContext:
    demo = DemoContext(stdout=OutputWrapper(io.StringIO()), style=no_style())
    seed(demo)
    return demo


def test_demo_has_the_documented_objects_and_every_role_and_scope():
    demo = run_seed()
    o = demo.objects
    assert o["customer"].domain == "acme.example.com" and o["customer"].kind == "customer"
    assert o["vas"]["Building 7 Lab"].level == 2 and o["vas"]["DEFAULT"].is_default
    assert len(o["vas"]) >= 8
    assert o["limited"].kind == "limited_use"
    assert o["partner"].status == "active" and o["partner_pending"].status == "pending"
    assert selectors.account_role(o["customer_admin"], o["customer"]) == Role.ADMIN
    assert selectors.account_role(o["customer_user"], o["customer"]) == Role.USER
    assert selectors.account_role(o["customer_viewer"], o["customer"]) == Role.VIEWER
    assert selectors.effective_role(o["customer_va_user"], o["vas"]["Building 7 Lab"]) == Role.USER
    assert selectors.effective_role(o["customer_va_viewer"], o["vas"]["Tokyo"]) == Role.VIEWER
    assert selectors.effective_role(o["customer_va_viewer"], o["vas"]["Finance"]) is None
    assert selectors.pending_access_request_count(o["customer"]) == 1
    emails = [email for email, _ in demo.logins]
    assert "alice.admin@acme.example.com" in emails and len(emails) == len(set(emails))


def test_seeding_twice_changes_nothing():
    run_seed()
    counts = [m.objects.count() for m in (User, SmartAccount, VirtualAccount, Event)]
    run_seed()
    assert [m.objects.count() for m in (User, SmartAccount, VirtualAccount, Event)] == counts
