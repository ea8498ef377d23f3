"""Pages show only what a person can do: no Review button for those who cannot decide a hand-over, the
visibility a Limited Use account really has, and staff land on the admin and what waits for them."""

import pytest
from django.urls import reverse

from smartaccounts.models import SmartAccount
from smartaccounts.services import create_smart_account
from tests.factories import grant, make_account, make_staff, make_user
from tests.isolation import build_tenant
from tests.licensing.workflows.builders import hand_over_id

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("who", "shown"), [("va_viewer", False), ("viewer", False), ("va_user", True),
                                            ("user", True), ("admin", True)])  # fmt: skip
def test_the_review_button_of_incoming_hand_overs_shows_only_to_who_can_decide(client, who, shown):
    tenant = build_tenant()
    hand_over = hand_over_id(tenant, tenant.va_a_child)
    client.force_login(getattr(tenant, who))
    detail = reverse("hand_over_incoming_detail", args=[tenant.account.pk, hand_over])
    for url in (reverse("account_home", args=[tenant.account.pk]),
                reverse("hand_overs_incoming", args=[tenant.account.pk])):  # fmt: skip
        page = client.get(url).content.decode()
        assert detail in page, url  # the hand-over is listed to everyone who sees the account
        assert (f'btn-primary" href="{detail}">Review</a>' in page) is shown, url
    if not shown:
        accept = reverse("hand_over_accept", args=[tenant.account.pk, hand_over])
        assert client.post(accept, {"virtual_account": tenant.va_a.pk}).status_code == 403


def test_a_limited_use_account_does_not_claim_people_of_its_domain_find_it(client):
    owner = make_user("sam.smith@gmail.com")
    account = make_account(admin=owner, kind="limited_use")
    client.force_login(owner)
    page = client.get(reverse("account_home", args=[account.pk])).content.decode()
    assert "can find it and request access" not in page
    assert "never offered to others by e-mail domain" in page
    properties = client.get(reverse("account_properties", args=[account.pk])).content.decode()
    assert "can find it and request access" not in properties
    customer = make_account()
    client.force_login(customer.created_by)
    page = client.get(reverse("account_home", args=[customer.pk])).content.decode()
    assert "People with an e-mail address in the domain can find it and request access" in page


def test_staff_without_a_role_land_on_the_admin_and_the_pending_approvals(client):
    staff = make_staff("ops@operator.example.net")
    partner = make_user("lead@contoso-partners.example.com")
    pending = create_smart_account(
        creator=partner,
        name="Contoso Partners Holding",
        domain="contoso-partners.example.com",
        kind=SmartAccount.Kind.PARTNER_HOLDING,
    )
    make_account(name="Already Active Inc")
    client.force_login(staff)
    page = client.get(reverse("home")).content.decode()
    assert "You are not in any Smart Account yet" not in page
    assert f'href="{reverse("admin:index")}" data-testid="admin-link"' in page
    assert "Contoso Partners Holding" in page and "Already Active Inc" not in page
    assert reverse("admin:smartaccounts_smartaccount_change", args=[pending.pk]) in page
    assert "Orders on Smart Account hold" in page
    # People who are not staff see none of it.
    client.force_login(grant(make_user("someone@acme.example.com"), "viewer", account=make_account()))
    page = client.get(reverse("home")).content.decode()
    assert 'data-testid="staff-landing"' not in page and "Contoso Partners Holding" not in page
