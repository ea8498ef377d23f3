"""Staff change things only with the model permission for that change, in the admin and in the services.

A staff member holding only the ``view_*`` permissions may look at every admin page and is refused
every action, form and extra page that changes state; the operator-only services refuse them too
(staff status alone is not a permission). A staff member with the one permission an action needs
succeeds.
"""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from licensing.models import Order
from licensing.services import assign_order_account, deposit_order, import_orders, import_paks
from policy.models import AccountPolicy, Policy, WorkerHeartbeat
from policy.services import assign_policy, create_policy, save_policy_rules, set_default_policy
from smartaccounts import services
from smartaccounts.models import Role, SmartAccount, User, VirtualAccount
from tests.factories import default_va, make_account, make_staff, make_user, make_va
from tests.licensing.helpers import make_license, make_order

pytestmark = pytest.mark.django_db

RULES = {
    "unenforced_perpetual": (90, 365, 90, False),
    "unenforced_subscription": (90, 365, 90, False),
    "enforced": (0, 0, 0, False),
    "export_controlled": (0, 0, 0, False),
}


def _view_permissions() -> list[str]:
    return [
        f"{p.content_type.app_label}.{p.codename}"
        for p in Permission.objects.filter(codename__startswith="view_").select_related("content_type")
    ]


def view_only_staff() -> User:
    return make_staff(None, *_view_permissions())


def staff_with(permission: str) -> User:
    """The view permissions (to reach the admin's lists) plus the one permission under test."""
    return make_staff(None, *_view_permissions(), permission)


def test_every_admin_action_declares_the_permission_it_needs():
    missing = [
        f"{model._meta.label}: {name}"
        for model, model_admin in admin.site._registry.items()
        for func, name, _description in model_admin._get_base_actions()
        if not getattr(func, "allowed_permissions", None)
    ]
    assert missing == []


# --- Through the admin ------------------------------------------------------------------------------


def _pending_partner() -> SmartAccount:
    paula = make_user("paula@partner.example.net")
    return services.create_smart_account(
        creator=paula, name="Partner Holding", domain="partner.example.net", kind="partner_holding"
    )


def _reservation_account(enabled: bool) -> SmartAccount:
    account = make_account(domain=f"reserving-{int(enabled)}.example.com")
    SmartAccount.objects.filter(pk=account.pk).update(license_reservation_enabled=enabled)
    return account


def _periodic_task(enabled: bool, task: str = "policy.evaluate_reporting_deadlines") -> PeriodicTask:
    every = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.HOURS)[0]
    return PeriodicTask.objects.create(name=f"{task} {enabled}", task=task, interval=every, enabled=enabled)


def _state(obj, *fields):
    fresh = type(obj).objects.get(pk=obj.pk)
    return tuple(getattr(fresh, f) for f in fields)


ACTIONS = [
    # (admin changelist, action, make the object, the fields the action changes, the permission it needs)
    (
        "smartaccounts_smartaccount",
        "approve",
        _pending_partner,
        ("status",),
        "smartaccounts.change_smartaccount",
    ),
    (
        "smartaccounts_smartaccount",
        "enable_reservation",
        lambda: _reservation_account(False),
        ("license_reservation_enabled",),
        "smartaccounts.change_smartaccount",
    ),
    (
        "smartaccounts_smartaccount",
        "disable_reservation",
        lambda: _reservation_account(True),
        ("license_reservation_enabled",),
        "smartaccounts.change_smartaccount",
    ),
    (
        "smartaccounts_virtualaccount",
        "delete_selected_through_service",
        lambda: make_va(make_account(), "Empty"),
        ("deleted_at",),
        "smartaccounts.delete_virtualaccount",
    ),
    (
        "licensing_order",
        "deposit_selected",
        lambda: make_order(make_account(), [(make_license(), 3)], deposit=False),
        ("status",),
        "licensing.change_order",
    ),
    (
        "django_celery_beat_periodictask",
        "enable_tasks",
        lambda: _periodic_task(False),
        ("enabled",),
        "django_celery_beat.change_periodictask",
    ),
    (
        "django_celery_beat_periodictask",
        "disable_tasks",
        lambda: _periodic_task(True),
        ("enabled",),
        "django_celery_beat.change_periodictask",
    ),
    (
        "django_celery_beat_periodictask",
        "toggle_tasks",
        lambda: _periodic_task(True),
        ("enabled",),
        "django_celery_beat.change_periodictask",
    ),
]


@pytest.mark.parametrize(("changelist", "action", "make", "fields", "permission"), ACTIONS, ids=[a[1] for a in ACTIONS])
def test_view_only_staff_are_refused_an_admin_action_that_staff_with_its_permission_run(
    client, changelist, action, make, fields, permission
):
    obj = make()
    before = _state(obj, *fields)
    url = reverse(f"admin:{changelist}_changelist")
    data = {"action": action, "_selected_action": [obj.pk], "post": "yes"}
    client.force_login(view_only_staff())
    assert client.get(url).status_code == 200  # they may look
    client.post(url, data)
    assert _state(obj, *fields) == before
    client.force_login(staff_with(permission))
    client.post(url, data)
    assert _state(obj, *fields) != before


def test_view_only_staff_cannot_run_a_periodic_task_now(client, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    task = _periodic_task(True, task="policy.health_ping")
    url = reverse("admin:django_celery_beat_periodictask_changelist")
    data = {"action": "run_tasks", "_selected_action": [task.pk]}
    client.force_login(view_only_staff())
    client.post(url, data)
    assert not WorkerHeartbeat.objects.exists()
    client.force_login(staff_with("django_celery_beat.change_periodictask"))
    client.post(url, data)
    assert WorkerHeartbeat.objects.count() == 1


def test_view_only_staff_are_refused_the_admins_forms_and_extra_pages(client):
    account = _reservation_account(False)
    limited = make_account(kind="limited_use")
    va = make_va(account, "Lab")
    person = make_user(f"person@{account.domain}")
    looker = view_only_staff()
    client.force_login(looker)

    change = reverse("admin:smartaccounts_smartaccount_change", args=[account.pk])
    assert client.get(change).status_code == 200
    refused = client.post(change, {"license_reservation_enabled": "on"}, follow=True).content.decode()
    assert "Your staff permissions do not allow this change." in refused
    roles = reverse("admin:smartaccounts_smartaccount_roles", args=[account.pk])
    page = client.get(roles)
    assert page.status_code == 200 and account.created_by.email in page.content.decode()
    assert 'name="grant"' not in page.content.decode() and 'name="revoke"' not in page.content.decode()
    grant = {"grant": "1", "email": person.email, "role": "admin", "scope": ""}
    assert client.post(roles, grant).status_code == 403
    revoke = {"revoke": "1", "user": account.created_by.pk, "scope": ""}
    assert client.post(roles, revoke).status_code == 403
    convert = reverse("admin:smartaccounts_smartaccount_convert", args=[limited.pk])
    assert (
        "Convert to Customer"
        not in client.get(reverse("admin:smartaccounts_smartaccount_change", args=[limited.pk])).content.decode()
    )
    assert client.post(convert, {"domain": "newco.example.com"}).status_code == 403
    move = {"cmd": "move_node", "cut_item": va.pk, "pasted_on": default_va(account).pk, "position": "last-child"}
    assert client.post(reverse("admin:smartaccounts_virtualaccount_changelist"), move).content.startswith(b"FAIL")
    policy_add = reverse("admin:policy_accountpolicy_add")
    assert client.post(policy_add, {"smart_account": account.pk, "policy": Policy.objects.get().pk}).status_code == 403

    assert _state(account, "license_reservation_enabled") == (False,)
    assert services.role_on_scope(person, account, None) is None
    assert services.role_on_scope(account.created_by, account, None) == Role.ADMIN
    assert _state(limited, "kind") == (SmartAccount.Kind.LIMITED_USE,)
    assert _state(va, "parent_id") == (None,)
    assert not AccountPolicy.objects.exists()

    # The change permission on Smart Accounts opens the same doors.
    client.force_login(staff_with("smartaccounts.change_smartaccount"))
    assert client.post(roles, grant).status_code == 302
    assert services.role_on_scope(person, account, None) == Role.ADMIN
    client.post(convert, {"domain": "newco.example.com"})
    assert _state(limited, "kind") == (SmartAccount.Kind.CUSTOMER,)


# --- In the services --------------------------------------------------------------------------------


def _scene() -> dict:
    account = make_account(domain="acme-ops.example.com")
    other_va = make_va(account, "Plant")
    empty = make_va(account, "Empty")
    policy = Policy.objects.get(is_default=True)
    second = Policy.objects.create(name="Second")
    assigned = make_account(domain="assigned.example.com")
    AccountPolicy.objects.create(smart_account=assigned, policy=policy)
    member = make_user(f"member@{account.domain}")
    services.assign_role(actor=account.created_by, user=member, role="viewer", smart_account=account)
    return {
        "account": account,
        "other_va": other_va,
        "empty": empty,
        "policy": policy,
        "second": second,
        "assigned": assigned,
        "member": member,
        "newcomer": make_user(f"newcomer@{account.domain}"),
        "pending": _pending_partner(),
        "limited": make_account(kind="limited_use"),
        "held_order": make_order(None, [(make_license(), 2)]),
        "entered_order": make_order(account, [(make_license(), 2)], deposit=False),
    }


SERVICES = [
    # (what, the permission it needs, the call)
    (
        "approve an account",
        "smartaccounts.change_smartaccount",
        lambda a, s: services.approve_smart_account(actor=a, smart_account=s["pending"]),
    ),
    (
        "switch reservation",
        "smartaccounts.change_smartaccount",
        lambda a, s: services.set_license_reservation(actor=a, smart_account=s["account"], enabled=True),
    ),
    (
        "convert to customer",
        "smartaccounts.change_smartaccount",
        lambda a, s: services.convert_to_customer(actor=a, smart_account=s["limited"], domain="bikes.example.com"),
    ),
    (
        "grant a role",
        "smartaccounts.change_smartaccount",
        lambda a, s: services.assign_role(actor=a, user=s["newcomer"], role="admin", smart_account=s["account"]),
    ),
    (
        "revoke a role",
        "smartaccounts.change_smartaccount",
        lambda a, s: services.revoke_role(actor=a, user=s["member"], smart_account=s["account"]),
    ),
    (
        "create a VA",
        "smartaccounts.add_virtualaccount",
        lambda a, s: services.create_virtual_account(actor=a, smart_account=s["account"], name="New"),
    ),
    (
        "rename a VA",
        "smartaccounts.change_virtualaccount",
        lambda a, s: services.rename_virtual_account(actor=a, virtual_account=s["other_va"], name="Works"),
    ),
    (
        "move a VA",
        "smartaccounts.change_virtualaccount",
        lambda a, s: services.move_virtual_account(actor=a, virtual_account=s["empty"], parent=s["other_va"]),
    ),
    (
        "make a VA the default",
        "smartaccounts.change_virtualaccount",
        lambda a, s: services.set_default_virtual_account(actor=a, virtual_account=s["other_va"]),
    ),
    (
        "delete a VA",
        "smartaccounts.delete_virtualaccount",
        lambda a, s: services.delete_virtual_account(actor=a, virtual_account=s["empty"]),
    ),
    (
        "assign an order's account",
        "licensing.change_order",
        lambda a, s: assign_order_account(actor=a, order=s["held_order"], smart_account=s["account"]),
    ),
    ("deposit an order", "licensing.change_order", lambda a, s: deposit_order(order=s["entered_order"], actor=a)),
    ("import orders", "licensing.add_order", lambda a, s: import_orders(rows=[], actor=a)),
    ("load PAKs", "licensing.add_pak", lambda a, s: import_paks(rows=[], actor=a)),
    ("create a policy", "policy.add_policy", lambda a, s: create_policy(actor=a, name="Strict", rules=RULES)),
    (
        "change a policy's rules",
        "policy.change_policy",
        lambda a, s: save_policy_rules(actor=a, policy=s["policy"], rules=RULES),
    ),
    ("set the default policy", "policy.change_policy", lambda a, s: set_default_policy(actor=a, policy=s["second"])),
    (
        "assign a policy",
        "policy.add_accountpolicy",
        lambda a, s: assign_policy(actor=a, smart_account=s["account"], policy=s["second"]),
    ),
    (
        "change an account's policy",
        "policy.change_accountpolicy",
        lambda a, s: assign_policy(actor=a, smart_account=s["assigned"], policy=s["second"]),
    ),
    (
        "remove an account's policy",
        "policy.delete_accountpolicy",
        lambda a, s: assign_policy(actor=a, smart_account=s["assigned"], policy=None),
    ),
]


@pytest.mark.parametrize(("what", "permission", "call"), SERVICES, ids=[s[0] for s in SERVICES])
def test_operator_services_refuse_view_only_staff_and_accept_the_permission(what, permission, call):
    scene = _scene()
    counts = (VirtualAccount.objects.count(), Order.objects.filter(status="deposited").count(), Policy.objects.count())
    with pytest.raises(PermissionDenied):
        call(view_only_staff(), scene)
    assert (
        VirtualAccount.objects.count(),
        Order.objects.filter(status="deposited").count(),
        Policy.objects.count(),
    ) == counts
    call(staff_with(permission), scene)  # no PermissionDenied


def test_only_staff_who_may_add_accounts_skip_the_domain_rules():
    looker = view_only_staff()
    with pytest.raises(ValidationError, match="e-mail domain"):
        services.create_smart_account(
            creator=looker, name="Competitor", domain="competitor.example.com", kind="customer"
        )
    adder = staff_with("smartaccounts.add_smartaccount")
    account = services.create_smart_account(
        creator=adder, name="Competitor", domain="competitor.example.com", kind="customer"
    )
    assert account.domain == "competitor.example.com"
