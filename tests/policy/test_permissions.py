"""The permission matrix over every policy page (see tests/isolation.py)."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from tests.isolation import Case, build_tenant, check_permission_matrix

from .helpers import make_license, report

pytestmark = pytest.mark.django_db


def _upload_data(tenant, va):
    document = report(None, generated_at=timezone.now(), usage={make_license(): 1}, pid="C8300", serial_number="MX1")
    return {
        "virtual_account": va.pk,
        "file": SimpleUploadedFile("usage.json", json.dumps(document).encode(), content_type="application/json"),
    }


CASES = [
    Case("policy_reporting"),
    Case("va_reporting", va_bound=True),
    Case("policy_alerts"),
    Case("policy_instance_reporting", va_bound=True),
    Case("policy_trust_code", method="post", action="operate", va_bound=True),
    Case("policy_report_ack", va_bound=True),
    Case("policy_usage_upload", action="operate"),
    Case("policy_usage_upload", method="post", action="operate", data=_upload_data),
    Case("policy_upload_result", va_bound=True),
    Case("policy_upload_acks", va_bound=True),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_permission_matrix(client, case):
    check_permission_matrix(client, case, build_tenant())


def test_a_va_user_cannot_upload_into_a_va_outside_their_subtree(client):
    tenant = build_tenant()
    client.force_login(tenant.va_user)
    from django.urls import reverse

    url = reverse("policy_usage_upload", kwargs={"account_id": tenant.account.pk})
    response = client.post(url, _upload_data(tenant, tenant.va_b))
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert tenant.va_b.name not in response.content.decode()


def test_the_upload_form_offers_only_vas_the_user_may_operate_on(client):
    tenant = build_tenant()
    client.force_login(tenant.va_user)
    from django.urls import reverse

    page = client.get(reverse("policy_usage_upload", kwargs={"account_id": tenant.account.pk})).content.decode()
    assert tenant.va_a.name in page and tenant.va_a_child.name in page
    assert tenant.va_b.name not in page
