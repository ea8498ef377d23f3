"""The policy demo: reports, uploads, alerts; idempotent. Run after the accounts and licensing demos."""

from io import StringIO

import pytest
from django.core.management import call_command

from licensing.models import ProductInstance
from policy.models import Alert, Change, UsageReport, UsageUpload

pytestmark = pytest.mark.django_db


def test_seed_demo_fills_reporting_and_running_it_again_changes_nothing():
    call_command("seed_demo", stdout=StringIO())
    reports = UsageReport.objects.count()
    assert reports >= 50
    assert UsageReport.objects.filter(signed=True).exists() and UsageReport.objects.filter(signed=False).exists()
    assert UsageUpload.objects.filter(file_name="substation-routers-usage.json").exists()
    statuses = set(ProductInstance.objects.values_list("deadline__reporting_status", flat=True))
    assert {"ok", "due_soon", "overdue"} <= statuses
    assert Alert.objects.filter(kind="late_change", resolved_at__isnull=True).count() == 1
    assert Change.objects.filter(source="notice").count() == 1
    before = (reports, Alert.objects.count(), Change.objects.count(), UsageUpload.objects.count())
    out = StringIO()
    call_command("seed_demo", stdout=out)
    assert "Policy: 0 usage reports sent" in out.getvalue()
    assert (
        UsageReport.objects.count(),
        Alert.objects.count(),
        Change.objects.count(),
        UsageUpload.objects.count(),
    ) == before


def test_the_demo_brings_the_default_policy_back_to_an_emptied_database():
    from policy.demo import _ensure_default_policy
    from policy.models import Policy
    from smartaccounts.demo import DemoContext
    from tests.factories import make_staff

    Policy.objects.update(is_default=False)
    staff = make_staff("ops@op.example.net", "policy.add_policy", "policy.change_policy")
    demo = DemoContext(stdout=StringIO(), style=None, objects={"staff": staff})
    _ensure_default_policy(demo)
    assert Policy.objects.get(is_default=True).name == "Default"
