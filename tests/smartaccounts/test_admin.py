"""The Django admin goes through the services: approval, reservation, roles, the draggable tree, read-only log."""

import pytest
from django.urls import reverse

from smartaccounts import services
from smartaccounts.models import Event, Role, SmartAccount, VirtualAccount
from tests.factories import default_va, make_account, make_user, make_va

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, staff):
    client.force_login(staff)
    return client


def changelist(model):
    return reverse(f"admin:smartaccounts_{model}_changelist")


def fresh(va):
    return VirtualAccount.objects.get(pk=va.pk)


def test_the_approve_action_approves_pending_accounts_and_mails_the_requester(
    admin_client, staff, mailoutbox, django_capture_on_commit_callbacks
):
    paula = make_user("paula@partner.example.net")
    account = services.create_smart_account(
        creator=paula, name="Partner", domain="partner.example.net", kind="partner_holding"
    )
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(changelist("smartaccount"), {"action": "approve", "_selected_action": [account.pk]})
    account.refresh_from_db()
    assert account.status == SmartAccount.Status.ACTIVE and account.approved_by == staff
    assert mailoutbox[-1].to == [paula.email]
    assert Event.objects.filter(action="account.approved", actor=staff).exists()


def test_license_reservation_actions_use_the_service_rules(admin_client, account):
    limited = make_account(kind="limited_use")
    admin_client.post(
        changelist("smartaccount"),
        {"action": "enable_reservation", "_selected_action": [account.pk, limited.pk]},
    )
    account.refresh_from_db()
    limited.refresh_from_db()
    assert account.license_reservation_enabled and not limited.license_reservation_enabled


def test_the_change_form_switches_reservation_through_the_service(admin_client, account):
    url = reverse("admin:smartaccounts_smartaccount_change", args=[account.pk])
    assert admin_client.get(url).status_code == 200
    response = admin_client.post(url, {"license_reservation_enabled": "on"})
    assert response.status_code == 302
    account.refresh_from_db()
    assert account.license_reservation_enabled
    assert Event.objects.filter(action="account.reservation_enabled", smart_account=account).exists()


def test_adding_an_account_in_the_admin_makes_its_default_va(admin_client):
    first_admin = make_user("cto@hooli.example.com")
    response = admin_client.post(
        reverse("admin:smartaccounts_smartaccount_add"),
        {"name": "Hooli", "domain": "hooli.example.com", "kind": "customer", "first_admin": first_admin.email},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    account = SmartAccount.objects.get(domain="hooli.example.com")
    assert default_va(account).name == "DEFAULT"
    assert services.role_on_scope(first_admin, account, None) == Role.ADMIN


def test_accounts_cannot_be_deleted_in_the_admin(admin_client, account):
    url = reverse("admin:smartaccounts_smartaccount_delete", args=[account.pk])
    assert admin_client.post(url, {"post": "yes"}).status_code == 403


def test_the_roles_page_grants_and_revokes_through_the_services(admin_client, account, staff):
    url = reverse("admin:smartaccounts_smartaccount_roles", args=[account.pk])
    person = make_user("p@acme.example.com")
    lab = make_va(account, "Lab")
    assert account.created_by.email in admin_client.get(url).content.decode()
    admin_client.post(url, {"grant": "1", "email": person.email, "role": "user", "scope": lab.pk})
    assert services.role_on_scope(person, account, lab) == Role.USER
    admin_client.post(url, {"revoke": "1", "user": person.pk, "scope": lab.pk})
    assert services.role_on_scope(person, account, lab) is None
    response = admin_client.post(url, {"revoke": "1", "user": account.created_by.pk, "scope": ""}, follow=True)
    assert "last Admin" in response.content.decode()
    assert Event.objects.filter(action="role.revoked", actor=staff).count() == 1


def test_revoking_on_the_roles_page_names_nobody_outside_the_account(admin_client, account, other_account):
    url = reverse("admin:smartaccounts_smartaccount_roles", args=[account.pk])
    outsider = other_account.created_by
    for user_id in (outsider.pk, 10**6, "9" * 30, "²"):
        response = admin_client.post(url, {"revoke": "1", "user": user_id, "scope": ""}, follow=True)
        page = response.content.decode()
        assert response.status_code == 200 and "That person has no role in this account." in page
        assert outsider.email not in page
    assert services.role_on_scope(outsider, other_account, None) == Role.ADMIN


def test_converting_a_limited_use_account_in_the_admin(admin_client):
    limited = make_account(kind="limited_use")
    url = reverse("admin:smartaccounts_smartaccount_convert", args=[limited.pk])
    admin_client.post(url, {"domain": "bakery.example.com"})
    limited.refresh_from_db()
    assert limited.kind == "customer" and limited.domain == "bakery.example.com"


def drag(admin_client, cut, pasted_on, position):
    return admin_client.post(
        changelist("virtualaccount"),
        {"cmd": "move_node", "cut_item": cut.pk, "pasted_on": pasted_on.pk, "position": position},
    )


def test_dragging_inside_a_node_moves_under_it_through_the_service(admin_client, account, staff):
    a, b = make_va(account, "A"), make_va(account, "B")
    assert drag(admin_client, b, a, "last-child").content == b"OK, moved."
    assert fresh(b).parent_id == a.pk
    assert Event.objects.get(action="va.moved").actor == staff


def test_dropping_beside_a_node_gives_it_that_nodes_parent(admin_client, account):
    a, b = make_va(account, "A"), make_va(account, "B")
    child = make_va(account, "Child", parent=a)
    drag(admin_client, b, child, "left")
    assert fresh(b).parent_id == a.pk
    drag(admin_client, b, a, "right")
    assert fresh(b).parent_id is None


def test_dragging_under_a_descendant_or_into_another_account_is_refused(admin_client, account, other_account):
    a = make_va(account, "A")
    child = make_va(account, "Child", parent=a)
    theirs = make_va(other_account, "Theirs")
    assert drag(admin_client, a, child, "last-child").content == b"FAIL, invalid move."
    assert drag(admin_client, a, theirs, "last-child").content == b"FAIL, invalid move."
    assert fresh(a).parent_id is None
    page = admin_client.get(changelist("virtualaccount")).content.decode()
    assert "cannot move under itself" in page


def test_the_va_change_form_renames_moves_and_makes_default_through_the_services(admin_client, account):
    a, b = make_va(account, "A"), make_va(account, "B")
    url = reverse("admin:smartaccounts_virtualaccount_change", args=[a.pk])
    response = admin_client.post(url, {"parent": b.pk, "name": "Alpha", "description": "", "is_default": "on"})
    assert response.status_code == 302
    a = fresh(a)
    assert (a.name, a.parent_id, a.is_default) == ("Alpha", b.pk, True)
    assert {"va.renamed", "va.moved", "va.default_changed"} <= set(Event.objects.values_list("action", flat=True))


def test_the_va_change_form_reports_a_refusal(admin_client, account):
    a = make_va(account, "A")
    child = make_va(account, "Child", parent=a)
    url = reverse("admin:smartaccounts_virtualaccount_change", args=[a.pk])
    response = admin_client.post(url, {"parent": child.pk, "name": "A", "description": ""}, follow=True)
    assert "cannot move under itself" in response.content.decode()
    assert fresh(a).parent_id is None


def test_adding_and_deleting_vas_in_the_admin_use_the_services(admin_client, account):
    response = admin_client.post(
        reverse("admin:smartaccounts_virtualaccount_add"),
        {"smart_account": account.pk, "parent": "", "name": "From admin", "description": ""},
    )
    assert response.status_code == 302
    va = VirtualAccount.objects.get(name="From admin")
    admin_client.post(reverse("admin:smartaccounts_virtualaccount_delete", args=[va.pk]), {"post": "yes"})
    assert fresh(va).is_deleted
    response = admin_client.post(
        reverse("admin:smartaccounts_virtualaccount_delete", args=[default_va(account).pk]),
        {"post": "yes"},
        follow=True,
    )
    assert "is the default Virtual Account" in response.content.decode()


def test_the_event_log_is_read_only_in_the_admin(admin_client, account):
    event = Event.objects.filter(smart_account=account).first()
    assert admin_client.get(changelist("event")).status_code == 200
    assert admin_client.get(reverse("admin:smartaccounts_event_add")).status_code == 403
    assert (
        admin_client.post(reverse("admin:smartaccounts_event_delete", args=[event.pk]), {"post": "yes"}).status_code
        == 403
    )
    response = admin_client.post(reverse("admin:smartaccounts_event_change", args=[event.pk]), {"message": "edited"})
    assert response.status_code == 403
    assert Event.objects.get(pk=event.pk).message != "edited"


def test_the_user_admin_lists_people_by_email(admin_client, account):
    page = admin_client.get(changelist("user")).content.decode()
    assert account.created_by.email in page
