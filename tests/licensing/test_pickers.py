"""Every Virtual Account picker lists the VAs in tree order with the one placeholder ("Choose…")."""

import re
from html import unescape

import pytest
from django.urls import reverse

from smartaccounts.forms import PLACEHOLDER
from tests.isolation import build_tenant
from tests.licensing.helpers import deposit, make_license, register
from tests.licensing.workflows.builders import hand_over_id

pytestmark = pytest.mark.django_db


def _options(page: str, name: str) -> list[str]:
    select = page.split(f'name="{name}"', 1)[1].split("</select>", 1)[0]
    return [unescape(re.sub(r"<[^>]+>", "", o)).strip() for o in re.findall(r"<option[^>]*>.*?</option>", select)]


@pytest.fixture
def tenant():
    return build_tenant()


def _tree_order(tenant) -> list[str]:
    vas = [tenant.default_va, tenant.va_a, tenant.va_a_child, tenant.va_b]
    return [va.name for va in sorted(vas, key=lambda va: (va.tree_id, va.lft))]


def test_the_accept_into_va_list_follows_the_tree(client, tenant):
    hand_over = hand_over_id(tenant, tenant.va_a_child)
    client.force_login(tenant.admin)
    page = client.get(reverse("hand_over_incoming_detail", args=[tenant.account.pk, hand_over])).content.decode()
    options = _options(page, "virtual_account")
    assert options == _tree_order(tenant)  # a child right under its parent, not alphabetical
    assert options.index(tenant.va_a_child.name) == options.index(tenant.va_a.name) + 1
    assert f'value="{tenant.default_va.pk}" selected' in page


def test_pickers_share_one_placeholder(client, tenant):
    license = make_license("Catalyst 9300 DNA Advantage")
    deposit(tenant.va_a, license, 5)
    client.force_login(tenant.admin)
    pages = {
        "target": reverse("license_transfer", args=[tenant.account.pk, tenant.va_a.pk, license.pk]),
        "virtual_account": reverse("policy_usage_upload", args=[tenant.account.pk]),
    }
    for field, url in pages.items():
        page = client.get(url).content.decode()
        assert "---------" not in page, url
        options = _options(page, field)
        assert options[0] == PLACEHOLDER, url
        assert options[1:] == [n for n in _tree_order(tenant) if n in options[1:]], url


def test_the_instance_move_picker_has_the_placeholder_and_tree_order(client, tenant):
    instance = register(tenant.va_a, hostname="router-1")
    client.force_login(tenant.admin)
    page = client.get(reverse("instance_detail", args=[tenant.account.pk, instance.pk])).content.decode()
    options = _options(page, "target")
    assert options[0] == PLACEHOLDER
    assert options[1:] == [n for n in _tree_order(tenant) if n != tenant.va_a.name]  # not the VA it is in
    # Moving without choosing a VA is refused with a message, and nothing moves.
    response = client.post(
        reverse("instances_transfer", args=[tenant.account.pk]), {"instances": [instance.pk], "target": ""}, follow=True
    )
    assert "Choose the Virtual Account to move them to." in response.content.decode()
    instance.refresh_from_db()
    assert instance.virtual_account_id == tenant.va_a.pk
