"""Smart Accounts: the domain rules of each kind, the default VA, approval, properties, conversion."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from smartaccounts import services
from smartaccounts.domains import public_email_domains
from smartaccounts.models import Event, SmartAccount, VirtualAccount
from tests.factories import default_va, grant, make_account, make_user

pytestmark = pytest.mark.django_db


def create(creator, domain, kind="customer", name="Acme"):
    return services.create_smart_account(creator=creator, name=name, domain=domain, kind=kind)


def test_the_shipped_list_has_at_least_fifty_public_providers():
    assert len(public_email_domains()) >= 50
    assert {"gmail.com", "outlook.com", "yahoo.com"} <= public_email_domains()


def test_customer_account_gets_its_default_va_and_the_creator_becomes_admin():
    ada = make_user("ada@eng.acme.example.com")
    account = create(ada, "acme.example.com")
    assert account.status == SmartAccount.Status.ACTIVE
    va = default_va(account)
    assert va.name == "DEFAULT" and va.parent is None
    assert services.role_on_scope(ada, account, None) == "admin"
    assert Event.objects.filter(smart_account=account, action="account.created").count() == 1


def test_customer_domain_may_be_the_email_domain_or_a_parent_of_it():
    create(make_user("a@eng.acme.example.com"), "eng.acme.example.com")
    create(make_user("b@lab.globex.example.com"), "globex.example.com")


def test_customer_domain_outside_the_creators_email_domain_is_refused():
    with pytest.raises(ValidationError, match="must be your e-mail domain"):
        create(make_user("a@acme.example.com"), "globex.example.com")


def test_customer_domain_cannot_be_a_registry_suffix():
    with pytest.raises(ValidationError, match="registry suffix"):
        create(make_user("a@acme.co.uk"), "co.uk")


@pytest.mark.parametrize("email", ["someone@gmail.com", "someone@outlook.com", "x@mail.yahoo.com"])
def test_customer_account_on_a_public_email_domain_points_to_limited_use(email):
    user = make_user(email)
    with pytest.raises(ValidationError) as caught:
        create(user, user.email_domain)
    assert "Limited Use" in str(caught.value)


def test_limited_use_is_only_for_public_email_addresses_and_uses_the_address_as_identifier():
    owner = make_user("Bob.Baker@Gmail.com")
    account = create(owner, "", kind="limited_use", name="Bob's Bakery")
    assert account.domain == "bob.baker@gmail.com"
    with pytest.raises(ValidationError, match="request a Customer account"):
        create(make_user("ann@acme.example.com"), "", kind="limited_use")


def test_limited_use_account_keeps_only_its_default_va():
    account = make_account(kind="limited_use")
    with pytest.raises(ValidationError, match="only the default Virtual Account"):
        services.create_virtual_account(actor=account.created_by, smart_account=account, name="Second")


def test_domain_identifier_is_unique_case_insensitively():
    create(make_user("a@acme.example.com"), "acme.example.com")
    with pytest.raises(ValidationError, match="already exists. Request access"):
        create(make_user("b@acme.example.com"), "ACME.example.com")


def test_an_unconfirmed_address_cannot_create_an_account():
    user = make_user("new@acme.example.com", email_verified_at=None)
    with pytest.raises(ValidationError, match="Confirm your e-mail address"):
        create(user, "acme.example.com")
    assert not SmartAccount.objects.exists()


def test_partner_holding_starts_pending_staff_are_mailed_and_approval_mails_the_requester(mailoutbox, committed, staff):
    paula = make_user("paula@partner.example.net")
    with committed():
        account = create(paula, "holding.partner.example.net", kind="partner_holding", name="Partner Holding")
    assert account.status == SmartAccount.Status.PENDING
    assert mailoutbox[-1].to == [staff.email]
    assert "/admin/smartaccounts/smartaccount/" in mailoutbox[-1].body
    with committed():
        services.approve_smart_account(actor=staff, smart_account=account)
    account.refresh_from_db()
    assert account.status == SmartAccount.Status.ACTIVE and account.approved_by == staff
    assert mailoutbox[-1].to == [paula.email] and "is now active" in mailoutbox[-1].body


def test_a_change_that_rolls_back_mails_nobody(mailoutbox, committed, staff):
    from django.db import transaction

    paula = make_user("paula@partner.example.net")
    with committed(), pytest.raises(RuntimeError), transaction.atomic():
        create(paula, "partner.example.net", kind="partner_holding")
        raise RuntimeError("something later in the same transaction failed")
    assert mailoutbox == []
    assert not SmartAccount.objects.exists()


def test_partner_holding_domain_must_belong_to_the_partner():
    with pytest.raises(ValidationError, match="Partner Holding account's domain"):
        create(make_user("p@partner.example.net"), "globex.example.org", kind="partner_holding")


def test_only_staff_approve_and_only_pending_accounts(staff):
    account = make_account(kind="partner_holding")
    with pytest.raises(PermissionDenied):
        services.approve_smart_account(actor=account.created_by, smart_account=account)
    with pytest.raises(ValidationError, match="already active"):
        services.approve_smart_account(actor=staff, smart_account=account)


def test_license_reservation_is_for_customer_accounts_only(staff, account):
    services.set_license_reservation(actor=staff, smart_account=account, enabled=True)
    account.refresh_from_db()
    assert account.license_reservation_enabled
    limited = make_account(kind="limited_use")
    with pytest.raises(ValidationError, match="only for Customer accounts"):
        services.set_license_reservation(actor=staff, smart_account=limited, enabled=True)
    with pytest.raises(PermissionDenied):
        services.set_license_reservation(actor=account.created_by, smart_account=account, enabled=False)


def test_staff_convert_a_limited_use_account_to_customer(staff):
    limited = make_account(kind="limited_use")
    services.convert_to_customer(actor=staff, smart_account=limited, domain="bakery.example.com")
    limited.refresh_from_db()
    assert limited.kind == SmartAccount.Kind.CUSTOMER and limited.domain == "bakery.example.com"
    services.create_virtual_account(actor=limited.created_by, smart_account=limited, name="Shop")
    with pytest.raises(ValidationError, match="public e-mail provider"):
        services.convert_to_customer(actor=staff, smart_account=make_account(kind="limited_use"), domain="gmail.com")


def test_admins_edit_the_account_properties_and_the_change_is_logged(account):
    admin = account.created_by
    services.update_account_properties(
        actor=admin, smart_account=account, name="Acme Networks", headquarters_address="1 Main St", visibility="private"
    )
    account.refresh_from_db()
    assert account.headquarters_address == "1 Main St" and account.visibility == "private"
    event = Event.objects.get(smart_account=account, action="account.updated")
    assert "headquarters address" in event.message and "visibility" in event.message
    viewer = grant(make_user("v@acme.example.com"), "viewer", account=account)
    with pytest.raises(PermissionDenied):
        services.update_account_properties(
            actor=viewer, smart_account=account, name="X", headquarters_address="", visibility="domain"
        )


def test_exactly_one_default_va_per_account_is_enforced_by_the_database(account):
    from django.db import IntegrityError, transaction

    va = services.create_virtual_account(actor=account.created_by, smart_account=account, name="Second")
    with pytest.raises(IntegrityError), transaction.atomic():
        VirtualAccount.objects.filter(pk=va.pk).update(is_default=True)


# --- Pages ---------------------------------------------------------------------------------------


def test_request_page_explains_each_kind_and_offers_access_to_the_existing_account(client, account):
    newcomer = make_user("newcomer@acme.example.com")
    client.force_login(newcomer)
    page = client.get(reverse("account_request")).content.decode()
    assert "Limited Use" in page and "Partner Holding" in page and "public e-mail provider" in page
    assert "Acme Networks" in page and "Request access" in page
    assert reverse("access_request_create", args=[account.pk]) in page


def test_request_page_creates_a_customer_account_and_lands_on_its_home(client):
    client.force_login(make_user("cio@initech.example.org"))
    response = client.post(
        reverse("account_request"), {"kind": "customer", "name": "Initech", "domain": "initech.example.org"}
    )
    account = SmartAccount.objects.get(domain="initech.example.org")
    assert response["Location"] == reverse("account_home", args=[account.pk])
    home = client.get(response["Location"]).content.decode()
    assert "Initech" in home and "You are its Admin" in home


def test_request_page_shows_the_refusal_pointing_to_limited_use(client):
    client.force_login(make_user("me@gmail.com"))
    response = client.post(reverse("account_request"), {"kind": "customer", "name": "Mine", "domain": "gmail.com"})
    assert response.status_code == 200
    assert "Request a Limited Use account instead" in response.content.decode()
    assert not SmartAccount.objects.exists()


def test_account_home_shows_kind_status_counts_events_and_properties(client, account):
    client.force_login(account.created_by)
    page = client.get(reverse("account_home", args=[account.pk])).content.decode()
    for text in ("Customer", "Active", "Virtual Accounts", "Members", "Recent events", "Headquarters", "Edit"):
        assert text in page
    assert "created the Customer account" in page


def test_admins_edit_properties_on_the_page_and_viewers_cannot(client, account):
    client.force_login(account.created_by)
    url = reverse("account_properties", args=[account.pk])
    response = client.post(
        url, {"name": "Acme Networks", "headquarters_address": "Somewhere 1", "visibility": "domain"}
    )
    assert response.status_code == 302
    account.refresh_from_db()
    assert account.headquarters_address == "Somewhere 1"
    client.force_login(grant(make_user("v@acme.example.com"), "viewer", account=account))
    assert client.get(url).status_code == 403
    assert "Edit</a>" not in client.get(reverse("account_home", args=[account.pk])).content.decode()


def test_the_header_switcher_lists_the_users_accounts_only(client, account, other_account):
    client.force_login(account.created_by)
    page = client.get(reverse("home")).content.decode()
    assert "Acme Networks" in page and "Globex Secret Holdings" not in page
