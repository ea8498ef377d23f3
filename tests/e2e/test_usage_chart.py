"""The usage chart of a device names each x-axis date once, whatever the span of its reports."""

from datetime import timedelta

import pytest
from django.utils import timezone

from policy.services import ingest_usage_report
from tests.factories import PASSWORD, make_account
from tests.policy.helpers import ensure_policy_seed_rows, make_license, report

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TICKS = "Chart.getChart(document.getElementById('usage-chart')).scales.x.ticks.map(t => t.label)"


@pytest.mark.parametrize("spacing", [timedelta(hours=5), timedelta(days=1), timedelta(days=40)])
def test_the_usage_chart_never_repeats_an_x_axis_label(page, spacing):
    ensure_policy_seed_rows()
    account = make_account(name="Chart Corp", domain="chart.example.com")
    admin = account.created_by
    va = account.virtual_accounts.get(is_default=True)
    lic = make_license(name="IR1101 Network Essentials")
    start = timezone.now() - spacing * 4
    ack = None
    for i, count in enumerate((1, 2, 2, 3)):
        ack = ingest_usage_report(
            payload=report(None, generated_at=start + spacing * i, usage={lic: count}, pid="IR1101-K9",
                           serial_number="FCW2519C001", period=spacing / 2),
            source="upload", actor=admin, virtual_account=va,
        )  # fmt: skip
    page.goto("/login/")
    page.fill("input[name=username]", admin.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/")
    page.goto(f"/accounts/{account.pk}/instances/{ack.product_instance_id}/reporting/")
    page.wait_for_function("window.Chart && Chart.getChart(document.getElementById('usage-chart'))")
    labels = page.evaluate(TICKS)
    assert len(labels) >= 2
    assert len(labels) == len(set(labels)), labels
