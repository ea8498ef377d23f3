"""Every Cisco-compatible operation: another tenant's account or VA is a 404, a role too low a 403, in the
error envelope, and nothing is written."""

from __future__ import annotations

import pytest

from licensing.models import LedgerEntry, ProductInstance, RegistrationToken
from smartaccounts.models import Event, VirtualAccount
from tests.factories import grant, make_user

from .helpers import APX, call, client_for, error_json

pytestmark = pytest.mark.django_db

A = "v1/accounts/{d}"
V = "v1/accounts/{d}/virtual-accounts/{va}"
SUDI = {"udiPid": "C9300-48P", "udiSerialNumber": "FOC1234X0AB"}
# (method, path, body, least action)
OPERATIONS = [
    ("GET", f"{A}/virtual-accounts", None, "view"),
    ("GET", f"{A}/customer/virtual-accounts", None, "view"),
    ("POST", f"{A}/virtual-accounts", {"name": "New VA"}, "admin"),
    ("POST", f"{V}/delete", None, "admin"),
    ("POST", f"{A}/licenses", {"virtualAccounts": []}, "view"),
    ("POST", f"{A}/license-subscriptions", {"virtualAccounts": []}, "view"),
    ("GET", f"{V}/tokens", None, "view"),
    ("POST", f"{V}/tokens", {"description": "x"}, "operate"),
    ("POST", f"{V}/tokens/revoke", {"tokens": ["abc"]}, "operate"),
    ("GET", f"{V}/devices", None, "view"),
    ("POST", f"{A}/devices", {"virtualAccounts": []}, "view"),
    ("POST", f"{V}/devices/transfer", {"productInstances": [{"sudi": SUDI, "targetVirtualAccount": "Lab 02"}]},
     "operate"),
    ("POST", f"{V}/devices/remove", {"productInstances": [{"sudi": SUDI}]}, "operate"),
    ("POST", f"{V}/licenses/transfer",
     {"licenses": [{"license": "C9300 Network Advantage", "quantity": 1, "targetVirtualAccount": "Lab 02"}]},
     "operate"),
    ("GET", APX + "pnp/v2/accounts/{d}/virtual-accounts", None, "view"),
    ("GET", APX + "licensing/v2/accounts/{d}/devices", None, "view"),
]  # fmt: skip
IDS = [f"{m} {p}" for m, p, _, _ in OPERATIONS]


def _state():
    return (
        VirtualAccount.objects.filter(deleted_at__isnull=True).count(),
        RegistrationToken.objects.filter(revoked_at__isnull=True).count(),
        LedgerEntry.objects.count(),
        list(ProductInstance.objects.order_by("pk").values_list("virtual_account_id", "status")),
        Event.objects.count(),
    )


def _send(person, method, path, body, *, domain="acme.example.com", va="VA1"):
    return call(client_for(person), method, path.format(d=domain, va=va), body if body is not None else None)


@pytest.mark.parametrize(("method", "path", "body", "action"), OPERATIONS, ids=IDS)
def test_another_tenants_account_or_va_is_404(estate, method, path, body, action):
    # A Viewer of Lab 02 only: VA1 does not exist for them.
    outsider = grant(make_user("bianca@acme.example.com"), "viewer", va=estate.va2)
    before = _state()
    error_json(_send(estate.admin, method, path, body, domain="globex.example.org", va="Secret VA"), 404)
    if "{va}" in path:
        error_json(_send(estate.admin, method, path, body, va="Secret VA"), 404)
        error_json(_send(outsider, method, path, body), 404)
    assert _state() == before


@pytest.mark.parametrize(
    ("method", "path", "body", "action"), [op for op in OPERATIONS if op[3] != "view"], ids=[
        i for i, op in zip(IDS, OPERATIONS, strict=True) if op[3] != "view"]
)  # fmt: skip
def test_a_role_too_low_is_403(estate, method, path, body, action):
    before = _state()
    error_json(_send(estate.viewer, method, path, body), 403)
    if action == "admin":
        error_json(_send(estate.user, method, path, body), 403)
    assert _state() == before


@pytest.mark.parametrize(("method", "path", "body", "action"), OPERATIONS, ids=IDS)
def test_the_least_role_is_enough(estate, method, path, body, action):
    person = {"view": estate.viewer, "operate": estate.user, "admin": estate.admin}[action]
    if path.endswith("/delete"):
        path = path.replace("{va}", "Lab 02")  # an empty VA
    if path.endswith("tokens/revoke"):
        body = {"tokens": [RegistrationToken.objects.filter(virtual_account=estate.va1).first().token]}
    response = _send(person, method, path, body)
    assert response.status_code == 200, response.content[:300]
    assert response.json()["status"] == "SUCCESS"
