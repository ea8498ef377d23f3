"""Policies: versions never change, staff assign them, the admin goes through the services."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from policy.models import AccountPolicy, Policy, PolicyRule, PolicyVersion
from policy.rules import describe, rules_in_force
from policy.services import assign_policy, create_policy, ingest_usage_report, save_policy_rules, set_default_policy
from smartaccounts.models import Event
from tests.factories import default_va, make_staff

from .helpers import TRUST, make_instance, make_license, report

pytestmark = pytest.mark.django_db

DEFAULT_RULES = {
    "unenforced_perpetual": (90, 365, 90, True),
    "unenforced_subscription": (90, 365, 90, True),
    "enforced": (0, 0, 0, False),
    "export_controlled": (0, 0, 0, False),
}


@pytest.fixture
def staff(db):
    return make_staff(
        "ops@operator.example.net",
        "policy.add_policy",
        "policy.change_policy",
        "policy.add_accountpolicy",
        "policy.change_accountpolicy",
        "policy.delete_accountpolicy",
    )


def test_the_shipped_default_policy_follows_the_product_text():
    version, rules = rules_in_force(0)
    assert version.policy.is_default and version.number == 1
    assert {
        c: (r.first_report_days, r.reporting_frequency_days, r.report_on_change_days) for c, r in rules.items()
    } == {
        "unenforced_perpetual": (90, 365, 90),
        "unenforced_subscription": (90, 365, 90),
        "enforced": (0, 0, 0),
        "export_controlled": (0, 0, 0),
    }
    assert Policy.objects.filter(is_default=True).count() == 1


def test_changing_the_rules_makes_a_new_version_and_acks_keep_naming_theirs(staff, account):
    lic = make_license()
    device = make_instance(default_va(account), usage={lic: 1}, trust_code=TRUST)
    now = timezone.now()
    before = ingest_usage_report(
        payload=report(device, generated_at=now - timedelta(hours=2), usage={lic: 1}), source="device"
    )
    policy = Policy.objects.get(is_default=True)
    v1_rules = list(PolicyRule.objects.filter(version__policy=policy, version__number=1).values())

    version = save_policy_rules(
        actor=staff, policy=policy, rules={**DEFAULT_RULES, "unenforced_perpetual": (60, 180, 30, True)}
    )
    assert version.number == 2 and version.created_by == staff
    assert list(PolicyRule.objects.filter(version__policy=policy, version__number=1).values()) == v1_rules
    after = ingest_usage_report(payload=report(device, generated_at=now, usage={lic: 1}), source="device")
    assert before.policy_version.number == 1 and before.document["policy"]["version"] == 1
    assert after.policy_version == version and after.document["policy"] == {"name": "Default", "version": 2}
    assert after.next_due_at == now + timedelta(days=180)
    # The same rules again: no new version; a name change alone makes none either.
    assert (
        save_policy_rules(
            actor=staff,
            policy=policy,
            rules={**DEFAULT_RULES, "unenforced_perpetual": (60, 180, 30, True)},
            name="Standard",
        )
        is None
    )
    assert PolicyVersion.objects.filter(policy=policy).count() == 2
    assert Event.objects.filter(action="policy.version_created").count() == 1


def test_only_staff_manage_policies_and_rules_are_checked(account):
    with pytest.raises(PermissionDenied):
        create_policy(actor=account.created_by, name="Lax", rules=DEFAULT_RULES)
    staff = make_staff("ops2@operator.example.net", "policy.add_policy")
    with pytest.raises(ValidationError, match="whole numbers"):
        create_policy(actor=staff, name="Bad", rules={**DEFAULT_RULES, "enforced": (-1, 0, 0, False)})
    with pytest.raises(ValidationError, match="Give the rule"):
        create_policy(actor=staff, name="Short", rules={"enforced": (0, 0, 0, False)})
    with pytest.raises(ValidationError, match="already exists"):
        create_policy(actor=staff, name="default", rules=DEFAULT_RULES)


def test_an_account_is_held_to_its_assigned_policy_and_the_account_page_says_so(
    staff, account, client, django_capture_on_commit_callbacks
):
    strict = create_policy(
        actor=staff, name="Regulated", rules={**DEFAULT_RULES, "unenforced_perpetual": (30, 90, 14, True)}
    )
    with django_capture_on_commit_callbacks() as callbacks:
        assign_policy(actor=staff, smart_account=account, policy=strict)
    assert callbacks == []  # the deadlines were set in the transaction: nothing waits for a worker
    assert AccountPolicy.objects.get(smart_account=account).policy == strict
    assert Event.objects.filter(smart_account=account, action="policy.assigned").exists()
    client.force_login(account.created_by)
    page = client.get(f"/accounts/{account.pk}/").content.decode()
    assert "<strong>Regulated</strong> policy, version 1." in page
    assert (
        "Devices using unenforced perpetual licenses report within 30 days of first use, report within 14 days of "
        "any software upgrade or feature change, then once every 90 days" in page
    )
    assign_policy(actor=staff, smart_account=account, policy=None)
    assert rules_in_force(account.pk)[0].policy.is_default


def test_there_is_always_exactly_one_default_policy(staff):
    other = create_policy(actor=staff, name="Lenient", rules=DEFAULT_RULES, is_default=True)
    assert list(Policy.objects.filter(is_default=True)) == [other]
    set_default_policy(actor=staff, policy=Policy.objects.get(name="Default"))
    assert list(Policy.objects.filter(is_default=True).values_list("name", flat=True)) == ["Default"]


def test_the_policy_in_plain_words():
    rules = {}  # a policy version without rules asks nothing
    assert describe(rules) == [
        "Devices using unenforced perpetual licenses, unenforced subscription licenses, enforced licenses and "
        "export-controlled licenses need no usage reports (they are authorized instead)."
    ]
    rules = {
        "unenforced_perpetual": PolicyRule(license_class="unenforced_perpetual", first_report_days=0,
                                           reporting_frequency_days=365, report_on_change_days=0),
    }  # fmt: skip
    assert describe(rules)[0] == "Devices using unenforced perpetual licenses report once every 365 days."


def test_staff_edit_a_policy_in_the_admin_and_get_a_new_version(client, staff):
    staff.is_superuser = True
    staff.save()
    client.force_login(staff)
    policy = Policy.objects.get(is_default=True)
    form = client.get(f"/admin/policy/policy/{policy.pk}/change/")
    assert form.status_code == 200 and "Unenforced perpetual: first report" in form.content.decode()
    data = {"name": "Default", "description": policy.description, "make_default": "on",
            "versions-TOTAL_FORMS": "1", "versions-INITIAL_FORMS": "1", "versions-MIN_NUM_FORMS": "0",
            "versions-MAX_NUM_FORMS": "0", "versions-0-id": str(policy.versions.get().pk),
            "versions-0-policy": str(policy.pk)}  # fmt: skip
    for license_class, (first, every, on_change, ack) in DEFAULT_RULES.items():
        data[f"{license_class}__first"] = first
        data[f"{license_class}__every"] = every if license_class != "unenforced_subscription" else 180
        data[f"{license_class}__change"] = on_change
        if ack:
            data[f"{license_class}__ack"] = "on"
    response = client.post(f"/admin/policy/policy/{policy.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    latest = policy.versions.order_by("-number").first()
    assert latest.number == 2
    assert latest.rules.get(license_class="unenforced_subscription").reporting_frequency_days == 180
    add = {k: v for k, v in data.items() if not k.startswith("versions-")}
    add.update({"name": "Branch offices", "make_default": ""})
    add.update({f"versions-{k}": "0" for k in ("TOTAL_FORMS", "INITIAL_FORMS", "MIN_NUM_FORMS", "MAX_NUM_FORMS")})
    response = client.post("/admin/policy/policy/add/", add)
    assert response.status_code == 302
    created = Policy.objects.get(name="Branch offices")
    assert created.versions.get().number == 1 and not created.is_default
    assert client.get(f"/admin/policy/policyversion/{latest.pk}/change/").status_code == 200
