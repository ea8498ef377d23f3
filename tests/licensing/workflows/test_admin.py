"""Staff pages of PAKs, hand-overs and reservations."""

import pytest
from django.urls import reverse

from licensing.models import Pak
from licensing.services import transfer_to_customer
from tests.factories import make_user

from .helpers import make_license, make_order, make_partner, make_sku

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client):
    user = make_user("ops@operator.example.net", is_staff=True, is_superuser=True)
    client.force_login(user)
    return user


def test_staff_load_a_pak_in_the_admin_through_the_import_rules(client, staff, account):
    make_sku(make_license("Catalyst 9300 DNA Advantage"), "C9300-DNA-A-48")
    url = reverse("admin:licensing_pak_add")
    assert client.get(url).status_code == 200
    refused = client.post(url, {"number": "3PAK-ADMIN-01", "owner": account.pk, "lines": "C9300-DNA-A-48, 4\nNOPE, 1"})
    assert refused.status_code == 200
    assert "line 2: there is no SKU NOPE in the catalog." in refused.content.decode()
    assert not Pak.objects.exists()
    response = client.post(url, {"number": "3pak-admin-01", "owner": account.pk, "lines": "C9300-DNA-A-48, 4\n"})
    pak = Pak.objects.get()
    assert response.status_code == 302
    assert (pak.number, pak.owner, pak.lines.get().quantity) == ("3PAK-ADMIN-01", account, 4)
    change = client.get(reverse("admin:licensing_pak_change", args=[pak.pk]))
    assert change.status_code == 200 and "C9300-DNA-A-48" in change.content.decode()
    assert client.post(reverse("admin:licensing_pak_delete", args=[pak.pk]), {"post": "yes"}).status_code == 403


def test_hand_overs_and_reservations_are_read_only_for_staff(client, staff, account):
    partner = make_partner()
    order = make_order(partner, [(make_sku(make_license()), 3)])
    hand_over = transfer_to_customer(
        actor=partner.created_by, order_lines={order.lines.get(): 3}, customer_account=account
    )
    assert client.get(reverse("admin:licensing_handover_changelist")).status_code == 200
    detail = client.get(reverse("admin:licensing_handover_change", args=[hand_over.pk]))
    assert detail.status_code == 200 and order.number in detail.content.decode()
    assert client.get(reverse("admin:licensing_handover_add")).status_code == 403
    assert client.get(reverse("admin:licensing_reservation_changelist")).status_code == 200
    assert client.get(reverse("admin:licensing_reservation_add")).status_code == 403
