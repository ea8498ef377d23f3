"""The reporting rules: which policy version holds an account, what it asks of an instance, and when
the instance's next report is due. `policy.deadlines` computes the same thing in SQL for every
instance at once; tests hold the two to the same answers.

Deadline rule (times in UTC; a day is 24 hours, so daylight saving never moves a deadline):
next due = the earliest of
- first use + first-report days, while the instance has never reported;
- the earliest change not yet covered by a report + report-on-change days;
- the last accepted report + reporting-frequency days;
each rule taken from the STRICTEST license class the instance uses (per rule, the smallest
non-zero number of days among the classes of its licenses in use; 0 means the rule does not
apply). No license in use, no applicable rule, or a reserved (SLR/PLR) instance: no deadline.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection

from licensing.models import LicenseClass, ProductInstance

from .models import Policy, PolicyRule, PolicyVersion

Status = ProductInstance.ReportingStatus


@dataclass(frozen=True)
class Terms:
    """What applies to one instance: the strictest non-zero days per rule (None: not required)."""

    first_report_days: int | None = None
    reporting_frequency_days: int | None = None
    report_on_change_days: int | None = None

    @property
    def applies(self) -> bool:
        return any((self.first_report_days, self.reporting_frequency_days, self.report_on_change_days))


def _smallest(values: Iterable[int]) -> int | None:
    return min((v for v in values if v), default=None)


def strictest(rules: Iterable[PolicyRule]) -> Terms:
    rules = list(rules)
    return Terms(
        first_report_days=_smallest(r.first_report_days for r in rules),
        reporting_frequency_days=_smallest(r.reporting_frequency_days for r in rules),
        report_on_change_days=_smallest(r.report_on_change_days for r in rules),
    )


def next_due(
    *,
    terms: Terms,
    first_use_at: datetime | None,
    last_report_at: datetime | None,
    pending_change_at: datetime | None,
) -> datetime | None:
    candidates = []
    if last_report_at is None and terms.first_report_days and first_use_at is not None:
        candidates.append(first_use_at + timedelta(days=terms.first_report_days))
    if pending_change_at is not None and terms.report_on_change_days:
        candidates.append(pending_change_at + timedelta(days=terms.report_on_change_days))
    if last_report_at is not None and terms.reporting_frequency_days:
        candidates.append(last_report_at + timedelta(days=terms.reporting_frequency_days))
    return min(candidates, default=None)


def status_for(due: datetime | None, now: datetime) -> str:
    if due is None:
        return Status.NOT_REQUIRED.value
    if due < now:
        return Status.OVERDUE.value
    if due <= now + timedelta(days=settings.REPORTING_DUE_SOON_DAYS):
        return Status.DUE_SOON.value
    return Status.OK.value


# --- The policy in force ---------------------------------------------------------------------------


_RULES_SQL = """
    SELECT v.id, v.number, p.id, p.name, p.is_default, r.id, r.license_class, r.first_report_days,
           r.reporting_frequency_days, r.report_on_change_days, r.ack_required
    FROM policy_policyversion v
    JOIN policy_policy p ON p.id = v.policy_id
    LEFT JOIN policy_policyrule r ON r.version_id = v.id
    WHERE v.id = (
        SELECT v2.id FROM policy_policyversion v2
        WHERE v2.policy_id = COALESCE(
            (SELECT ap.policy_id FROM policy_accountpolicy ap WHERE ap.smart_account_id = %s),
            (SELECT d.id FROM policy_policy d WHERE d.is_default = %s)
        )
        ORDER BY v2.number DESC LIMIT 1
    )
"""


def rule_from_row(version, rule_id, license_class, first, every, on_change, ack) -> PolicyRule:
    """A rule read with a written-out query (no further query: its version is given)."""
    return PolicyRule(
        id=rule_id,
        version=version,
        license_class=license_class,
        first_report_days=first,
        reporting_frequency_days=every,
        report_on_change_days=on_change,
        ack_required=bool(ack),
    )


def rules_in_force(smart_account_id: int) -> tuple[PolicyVersion | None, dict[str, PolicyRule]]:
    """The version in force for the account and its rules by license class (one query, written out:
    every report asks it)."""
    with connection.cursor() as cursor:
        cursor.execute(_RULES_SQL, [smart_account_id, True])
        rows = cursor.fetchall()
    if not rows:
        return None, {}
    version_id, number, policy_id, policy_name, is_default = rows[0][:5]
    version = PolicyVersion(
        id=version_id, number=number, policy=Policy(id=policy_id, name=policy_name, is_default=bool(is_default))
    )
    rules = {
        license_class: rule_from_row(version, rule_id, license_class, first, every, on_change, ack)
        for *_, rule_id, license_class, first, every, on_change, ack in rows
        if rule_id is not None
    }
    return version, rules


def terms_for(rules: dict[str, PolicyRule], license_classes: Iterable[str]) -> Terms:
    return strictest(rules[c] for c in set(license_classes) if c in rules)


# --- Sets of license classes as bit masks (the set-based evaluation's lookup key) -------------------

# Bit i stands for the i-th license class: an instance's classes in use are one small integer, and
# the terms of every set of classes under a version are worked out here once, by `terms_for`.
CLASS_BITS: dict[str, int] = {license_class: 1 << i for i, license_class in enumerate(LicenseClass.values)}


def classes_of(mask: int) -> set[str]:
    return {license_class for license_class, bit in CLASS_BITS.items() if mask & bit}


def terms_by_mask(rules: dict[str, PolicyRule]) -> dict[int, Terms]:
    """{class mask: the terms an instance using exactly those classes gets}, for the masks that ask a report."""
    found = {}
    for mask in range(1 << len(CLASS_BITS)):
        terms = terms_for(rules, classes_of(mask))
        if terms.applies:
            found[mask] = terms
    return found


# --- Plain words -----------------------------------------------------------------------------------

CLASS_WORDS = {
    LicenseClass.UNENFORCED_PERPETUAL: "unenforced perpetual licenses",
    LicenseClass.UNENFORCED_SUBSCRIPTION: "unenforced subscription licenses",
    LicenseClass.ENFORCED: "enforced licenses",
    LicenseClass.EXPORT_CONTROLLED: "export-controlled licenses",
}


def _days(n: int) -> str:
    return "1 day" if n == 1 else f"{n} days"


def rule_sentence(first: int, every: int, on_change: int, ack: bool) -> str:
    """What one rule asks, as a sentence fragment after 'Devices using … '."""
    if not (first or every or on_change):
        return "need no usage reports (they are authorized instead)"
    parts = []
    if first and on_change and first == on_change:
        parts.append(f"report within {_days(first)} of first use and of any software upgrade or feature change")
    else:
        if first:
            parts.append(f"report within {_days(first)} of first use")
        if on_change:
            parts.append(f"report within {_days(on_change)} of any software upgrade or feature change")
    if every:
        parts.append(f"then once every {_days(every)}" if parts else f"report once every {_days(every)}")
    sentence = ", ".join(parts)
    if ack:
        sentence += "; each report must be acknowledged"
    return sentence


def describe(rules: dict[str, PolicyRule]) -> list[str]:
    """The policy in plain words: one sentence per group of license classes with the same rule."""
    groups: dict[tuple, list[str]] = {}
    for license_class in LicenseClass.values:
        rule = rules.get(license_class)
        key = (
            (rule.first_report_days, rule.reporting_frequency_days, rule.report_on_change_days, rule.ack_required)
            if rule
            else (0, 0, 0, False)
        )
        groups.setdefault(key, []).append(CLASS_WORDS[license_class])
    sentences = []
    for (first, every, on_change, ack), classes in groups.items():
        names = classes[0] if len(classes) == 1 else ", ".join(classes[:-1]) + " and " + classes[-1]
        sentences.append(f"Devices using {names} {rule_sentence(first, every, on_change, ack)}.")
    return sentences
