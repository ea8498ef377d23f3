"""Policies (staff only): versions are never edited, a change of rules makes a new version; accounts
are assigned a policy (the default otherwise). Every change sets the deadlines, statuses and alerts
of the instances it moves in its own transaction (set-based: an account can hold 200,000 devices)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max

from licensing.models import LicenseClass
from smartaccounts.models import SmartAccount, User
from smartaccounts.services import record_event, require_operator

from ..deadlines import refresh_reporting_deadlines
from ..models import AccountPolicy, Policy, PolicyRule, PolicyVersion

__all__ = ["RuleValues", "assign_policy", "create_policy", "save_policy_rules", "set_default_policy"]

# Per license class: (first report days, reporting frequency days, report on change days, ACK required).
RuleValues = tuple[int, int, int, bool]
MAX_DAYS = 3650


def _require_staff(actor: User, permission: str) -> None:
    """Operator staff holding the model permission for this change (`policy.<permission>`)."""
    require_operator(actor, f"policy.{permission}", "manage reporting policies")


def _refresh_accounts_held_by(policy: Policy) -> None:
    """The deadlines of every account the policy holds: those assigned to it, and for the default those
    without a policy of their own."""
    accounts = set(policy.assignments.values_list("smart_account_id", flat=True))
    if policy.is_default:
        accounts |= set(SmartAccount.objects.filter(policy_assignment__isnull=True).values_list("pk", flat=True))
    refresh_reporting_deadlines(smart_account_ids=accounts)


def _clean_rules(rules: dict[str, RuleValues]) -> dict[str, RuleValues]:
    cleaned = {}
    for license_class in LicenseClass.values:
        if license_class not in rules:
            raise ValidationError(f"Give the rule for {LicenseClass(license_class).label} licenses.")
        first, every, on_change, ack = rules[license_class]
        for value in (first, every, on_change):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_DAYS:
                raise ValidationError(f"Days must be whole numbers from 0 (not required) to {MAX_DAYS}.")
        cleaned[license_class] = (first, every, on_change, bool(ack))
    unknown = set(rules) - set(LicenseClass.values)
    if unknown:
        raise ValidationError(f"Unknown license classes: {', '.join(sorted(unknown))}.")
    return cleaned


def _current_values(version: PolicyVersion | None) -> dict[str, RuleValues]:
    if version is None:
        return {}
    return {
        r.license_class: (r.first_report_days, r.reporting_frequency_days, r.report_on_change_days, r.ack_required)
        for r in version.rules.all()
    }


def _new_version(policy: Policy, rules: dict[str, RuleValues], actor: User) -> PolicyVersion:
    number = (policy.versions.aggregate(n=Max("number"))["n"] or 0) + 1
    version = PolicyVersion.objects.create(policy=policy, number=number, created_by=actor)
    PolicyRule.objects.bulk_create(
        PolicyRule(
            version=version,
            license_class=license_class,
            first_report_days=first,
            reporting_frequency_days=every,
            report_on_change_days=on_change,
            ack_required=ack,
        )
        for license_class, (first, every, on_change, ack) in rules.items()
    )
    return version


@transaction.atomic
def create_policy(
    *, actor: User, name: str, rules: dict[str, RuleValues], description: str = "", is_default: bool = False
) -> Policy:
    """A new policy with its version 1. Making it the default takes the default from the previous one."""
    _require_staff(actor, "add_policy")
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "Give the policy a name."})
    if Policy.objects.filter(name__iexact=name).exists():
        raise ValidationError({"name": f"A policy named {name} already exists."})
    rules = _clean_rules(rules)
    policy = Policy.objects.create(name=name, description=description)
    version = _new_version(policy, rules, actor)
    record_event(
        actor=actor,
        smart_account=None,
        action="policy.created",
        message=f"Reporting policy {policy.name} created (version {version.number}).",
        details={"policy": policy.pk, "version": version.number},
    )
    if is_default:
        set_default_policy(actor=actor, policy=policy)
    return policy


@transaction.atomic
def save_policy_rules(
    *,
    actor: User,
    policy: Policy,
    rules: dict[str, RuleValues],
    name: str | None = None,
    description: str | None = None,
) -> PolicyVersion | None:
    """Change a policy: new rules make a new version (the old one stays as ACKs named it).

    Returns the new version, or None when the rules did not change (a new name or description
    alone makes no version).
    """
    _require_staff(actor, "change_policy")
    policy = Policy.objects.select_for_update().get(pk=policy.pk)
    rules = _clean_rules(rules)
    if name is not None and name.strip() and name.strip() != policy.name:
        if Policy.objects.filter(name__iexact=name.strip()).exclude(pk=policy.pk).exists():
            raise ValidationError({"name": f"A policy named {name.strip()} already exists."})
        policy.name = name.strip()
    if description is not None:
        policy.description = description
    policy.save(update_fields=["name", "description"])
    latest = policy.versions.order_by("-number").first()
    if _current_values(latest) == rules:
        return None
    version = _new_version(policy, rules, actor)
    record_event(
        actor=actor,
        smart_account=None,
        action="policy.version_created",
        message=f"Reporting policy {policy.name} changed: version {version.number}.",
        details={"policy": policy.pk, "version": version.number, "rules": {k: list(v) for k, v in rules.items()}},
    )
    _refresh_accounts_held_by(policy)
    return version


@transaction.atomic
def set_default_policy(*, actor: User, policy: Policy) -> Policy:
    """The policy of every account without one of its own. There is always exactly one default."""
    _require_staff(actor, "change_policy")
    previous = Policy.objects.select_for_update().filter(is_default=True).exclude(pk=policy.pk).first()
    if previous is not None:
        Policy.objects.filter(pk=previous.pk).update(is_default=False)
    Policy.objects.filter(pk=policy.pk).update(is_default=True)
    policy.is_default = True
    record_event(
        actor=actor,
        smart_account=None,
        action="policy.default_set",
        message=f"{policy.name} is now the default reporting policy"
        + (f" (was {previous.name})." if previous else "."),
        details={"policy": policy.pk, "previous": previous.pk if previous else None},
    )
    _refresh_accounts_held_by(policy)
    return policy


@transaction.atomic
def assign_policy(*, actor: User, smart_account: SmartAccount, policy: Policy | None) -> AccountPolicy | None:
    """Hold an account to `policy` (None: back to the default policy).

    Staff need the permission for what it does to the assignment: add (an account's first), change
    (another policy) or delete (back to the default).
    """
    current = AccountPolicy.objects.select_for_update().filter(smart_account=smart_account).first()
    if policy is None:
        _require_staff(actor, "delete_accountpolicy")
    else:
        _require_staff(actor, "add_accountpolicy" if current is None else "change_accountpolicy")
    if policy is None:
        if current is None:
            return None
        current.delete()
        assignment = None
        message = f"Reporting policy of {smart_account.name}: back to the default policy."
    elif current is not None and current.policy_id == policy.pk:
        return current
    else:
        if current is None:
            assignment = AccountPolicy.objects.create(smart_account=smart_account, policy=policy)
        else:
            current.policy = policy
            current.save(update_fields=["policy"])
            assignment = current
        message = f"Reporting policy of {smart_account.name} set to {policy.name}."
    record_event(
        actor=actor,
        smart_account=smart_account,
        action="policy.assigned",
        message=message,
        details={"policy": policy.pk if policy else None},
    )
    refresh_reporting_deadlines(smart_account_ids=[smart_account.pk])
    return assignment
