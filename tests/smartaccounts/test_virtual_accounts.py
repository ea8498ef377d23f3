"""Virtual Accounts: the tree rules through the services and the pages."""

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from licensing.models import License, LicenseLot, Order, ProductInstance, RegistrationToken
from smartaccounts import services
from smartaccounts.models import Event, VirtualAccount
from tests.factories import default_va, grant, make_account, make_user, make_va

pytestmark = pytest.mark.django_db


def fresh(va):
    return VirtualAccount.objects.get(pk=va.pk)


def test_create_a_child_and_names_are_unique_in_the_account_case_insensitively(account):
    top = make_va(account, "Engineering")
    child = make_va(account, "Lab", parent=top)
    assert fresh(child).parent_id == top.pk
    with pytest.raises(ValidationError, match="already has a Virtual Account named"):
        make_va(account, "engineering")


def test_the_same_name_is_fine_in_another_account(account, other_account):
    make_va(account, "Engineering")
    make_va(other_account, "Engineering")


def test_a_parent_from_another_account_is_refused(account, other_account):
    theirs = make_va(other_account, "Theirs")
    grant(account.created_by, "admin", account=other_account)
    with pytest.raises(ValidationError, match="same Smart Account"):
        services.create_virtual_account(actor=account.created_by, smart_account=account, name="X", parent=theirs)


def test_rename_keeps_names_unique_and_is_logged(account):
    a = make_va(account, "A")
    make_va(account, "B")
    with pytest.raises(ValidationError, match="already has"):
        services.rename_virtual_account(actor=account.created_by, virtual_account=a, name="b")
    services.rename_virtual_account(actor=account.created_by, virtual_account=a, name="Alpha")
    assert fresh(a).name == "Alpha"
    assert Event.objects.filter(action="va.renamed", virtual_account=a).exists()


def test_move_under_another_parent_and_back_to_the_top_level(account):
    a, b = make_va(account, "A"), make_va(account, "B")
    child = make_va(account, "Child", parent=a)
    services.move_virtual_account(actor=account.created_by, virtual_account=child, parent=b)
    assert fresh(child).parent_id == b.pk
    services.move_virtual_account(actor=account.created_by, virtual_account=child, parent=None)
    assert fresh(child).parent_id is None
    assert Event.objects.filter(action="va.moved", virtual_account=child).count() == 2


def test_move_under_itself_or_its_own_descendant_is_refused(account):
    a = make_va(account, "A")
    child = make_va(account, "Child", parent=a)
    grandchild = make_va(account, "Grandchild", parent=child)
    for target in (a, child, grandchild):
        with pytest.raises(ValidationError, match="cannot move under itself or one of its own descendants"):
            services.move_virtual_account(actor=account.created_by, virtual_account=a, parent=target)
    assert fresh(a).parent_id is None


def test_move_into_another_account_is_refused(account, other_account):
    mine = make_va(account, "Mine")
    theirs = make_va(other_account, "Theirs")
    grant(account.created_by, "admin", account=other_account)
    with pytest.raises(ValidationError, match="only move within its own Smart Account"):
        services.move_virtual_account(actor=account.created_by, virtual_account=mine, parent=theirs)


def test_delete_an_empty_va_frees_its_name_and_keeps_its_history(account):
    va = make_va(account, "Temporary")
    services.delete_virtual_account(actor=account.created_by, virtual_account=va)
    va = fresh(va)
    assert va.is_deleted
    assert Event.objects.filter(action="va.deleted", virtual_account=va).exists()
    make_va(account, "Temporary")  # the name is free again
    with pytest.raises(ValidationError, match="has been deleted"):
        services.rename_virtual_account(actor=account.created_by, virtual_account=va, name="Back")
    with pytest.raises(ValidationError, match="has been deleted"):
        services.move_virtual_account(actor=account.created_by, virtual_account=va, parent=default_va(account))


def test_delete_is_refused_while_the_va_holds_anything_and_the_message_says_what(account):
    va = make_va(account, "Busy")
    make_va(account, "Kid", parent=va)
    lic = License.objects.create(name="DNA Advantage", tag="regid.test.dna-adv", product_family="Catalyst")
    LicenseLot.objects.create(smart_account=account, virtual_account=va, license=lic, quantity=5)
    ProductInstance.objects.create(smart_account=account, virtual_account=va, pid="C9300-48P", serial_number="FOC1")
    RegistrationToken.objects.create(
        virtual_account=va, token="t-1", created_by=account.created_by, expires_at=timezone.now() + dt.timedelta(days=3)
    )
    Order.objects.create(number="SO-1", smart_account=account, virtual_account=va)
    with pytest.raises(ValidationError) as caught:
        services.delete_virtual_account(actor=account.created_by, virtual_account=va)
    message = " ".join(caught.value.messages)
    for held in (
        "1 child Virtual Account",
        "5 licenses",
        "1 product instance",
        "1 active registration token",
        "1 order waiting to be deposited",
    ):
        assert held in message
    assert not fresh(va).is_deleted


def test_the_default_va_cannot_be_deleted_but_another_can_become_default(account):
    default = default_va(account)
    with pytest.raises(ValidationError, match="is the default Virtual Account"):
        services.delete_virtual_account(actor=account.created_by, virtual_account=default)
    other = make_va(account, "HQ")
    services.set_default_virtual_account(actor=account.created_by, virtual_account=other)
    assert default_va(account).pk == other.pk
    assert VirtualAccount.objects.filter(smart_account=account, is_default=True).count() == 1
    services.delete_virtual_account(actor=account.created_by, virtual_account=default)


def test_deleting_a_va_ends_its_roles_and_cancels_its_invitations(account):
    va = make_va(account, "Short-lived")
    member = grant(make_user("m@acme.example.com"), "viewer", va=va)
    invitation = services.invite_user(
        actor=account.created_by, email="x@acme.example.com", role="user", virtual_account=va
    )
    services.delete_virtual_account(actor=account.created_by, virtual_account=va)
    assert services.role_on_scope(member, account, fresh(va)) is None
    invitation.refresh_from_db()
    assert invitation.status == "cancelled"


def test_only_admins_change_the_tree(account):
    va = make_va(account, "A")
    user = grant(make_user("u@acme.example.com"), "user", account=account)
    with pytest.raises(PermissionDenied):
        services.create_virtual_account(actor=user, smart_account=account, name="X")
    with pytest.raises(PermissionDenied):
        services.rename_virtual_account(actor=user, virtual_account=va, name="B")
    with pytest.raises(PermissionDenied):
        services.delete_virtual_account(actor=user, virtual_account=va)


def test_a_va_admin_manages_below_their_va_but_not_the_va_itself_nor_the_top_level(account):
    eng = make_va(account, "Engineering")
    lab = make_va(account, "Lab", parent=eng)
    other = make_va(account, "Finance")
    boss = grant(make_user("boss@acme.example.com"), "admin", va=eng)
    child = services.create_virtual_account(actor=boss, smart_account=account, name="Lab 2", parent=eng)
    services.move_virtual_account(actor=boss, virtual_account=child, parent=lab)
    services.rename_virtual_account(actor=boss, virtual_account=eng, name="Engineering & Labs")
    services.delete_virtual_account(actor=boss, virtual_account=child)
    with pytest.raises(PermissionDenied):
        services.create_virtual_account(actor=boss, smart_account=account, name="Top")
    with pytest.raises(PermissionDenied):
        services.move_virtual_account(actor=boss, virtual_account=lab, parent=other)
    with pytest.raises(PermissionDenied):
        services.delete_virtual_account(actor=boss, virtual_account=eng)
    with pytest.raises(PermissionDenied):
        services.set_default_virtual_account(actor=boss, virtual_account=lab)


def test_staff_with_the_change_permission_restructure_any_tree(account, staff):
    va = make_va(account, "A")
    services.move_virtual_account(actor=staff, virtual_account=make_va(account, "B"), parent=va)
    event = Event.objects.get(action="va.moved")
    assert event.actor == staff


def test_limited_use_accounts_offer_no_create_form(client):
    limited = make_account(kind="limited_use")
    client.force_login(limited.created_by)
    page = client.get(reverse("virtual_accounts", args=[limited.pk])).content.decode()
    assert "New Virtual Account" not in page and "only the default Virtual Account" in page


# --- Pages ---------------------------------------------------------------------------------------


def tree_url(account):
    return reverse("virtual_accounts", args=[account.pk])


def va_url(va, name="virtual_account"):
    return reverse(name, args=[va.smart_account_id, va.pk])


def test_tree_page_indents_children_and_counts_members_per_va_and_subtree(client, account):
    eng = make_va(account, "Engineering")
    lab = make_va(account, "Lab", parent=eng)
    grant(make_user("a@acme.example.com"), "viewer", va=lab)
    grant(make_user("b@acme.example.com"), "viewer", va=eng)
    client.force_login(account.created_by)
    response = client.get(tree_url(account))
    rows = {r.va.name: r for r in response.context["rows"]}
    assert rows["Lab"].depth == 1 and rows["Engineering"].has_children
    assert rows["Engineering"].totals["members"] == 2 and rows["Engineering"].counts["members"] == 1
    page = response.content.decode()
    assert page.index("Engineering") < page.index("Lab")
    assert 'class="tree-toggle"' in page
    assert "Members <strong>1</strong> / 2" in page


def test_create_a_child_va_on_the_page(client, account):
    eng = make_va(account, "Engineering")
    client.force_login(account.created_by)
    response = client.post(tree_url(account), {"name": "Campus", "parent": eng.pk, "description": ""})
    assert response.status_code == 302
    assert fresh(VirtualAccount.objects.get(name="Campus")).parent_id == eng.pk


def test_the_page_shows_a_service_refusal_on_the_form(client, account):
    make_va(account, "Engineering")
    client.force_login(account.created_by)
    response = client.post(tree_url(account), {"name": "ENGINEERING", "parent": ""})
    assert response.status_code == 200
    assert "already has a Virtual Account named" in response.content.decode()


def test_rename_move_delete_and_make_default_on_the_va_page(client, account):
    a, b = make_va(account, "A"), make_va(account, "B")
    client.force_login(account.created_by)
    client.post(va_url(a, "va_rename"), {"name": "Alpha", "description": "First"})
    assert fresh(a).name == "Alpha"
    client.post(va_url(a, "va_move"), {"parent": b.pk})
    assert fresh(a).parent_id == b.pk
    response = client.post(va_url(b, "va_delete"), follow=True)
    assert "cannot be deleted: it still holds 1 child Virtual Account" in response.content.decode()
    client.post(va_url(b, "va_make_default"))
    assert default_va(account).pk == b.pk
    response = client.post(va_url(a, "va_delete"), follow=True)
    assert fresh(a).is_deleted
    assert "is deleted" in response.content.decode()


def test_moving_under_its_own_descendant_on_the_page_shows_the_reason(client, account):
    a = make_va(account, "A")
    child = make_va(account, "Child", parent=a)
    client.force_login(account.created_by)
    response = client.post(va_url(a, "va_move"), {"parent": child.pk}, follow=True)
    assert "cannot move under itself or one of its own descendants" in response.content.decode()


def test_va_page_lists_what_blocks_deletion_and_the_move_form_leaves_out_its_own_subtree(client, account):
    a = make_va(account, "A")
    child = make_va(account, "Child", parent=a)
    client.force_login(account.created_by)
    response = client.get(va_url(a))
    assert "It cannot be deleted while it holds 1 child Virtual Account" in response.content.decode()
    choices = dict(response.context["move_form"].fields["parent"].choices)
    assert str(child.pk) not in choices and str(a.pk) not in choices


def test_a_viewer_sees_the_tree_but_no_edit_controls(client, account):
    va = make_va(account, "A")
    client.force_login(grant(make_user("v@acme.example.com"), "viewer", account=account))
    tree = client.get(tree_url(account)).content.decode()
    assert "New Virtual Account" not in tree
    page = client.get(va_url(va)).content.decode()
    assert "Rename" not in page and "Delete" not in page and "Add a child" not in page
    assert client.post(va_url(va, "va_rename"), {"name": "X"}).status_code == 403


def test_a_va_scoped_user_sees_only_their_subtree(client, account):
    eng = make_va(account, "Engineering")
    make_va(account, "Lab", parent=eng)
    finance = make_va(account, "Finance")
    client.force_login(grant(make_user("e@acme.example.com"), "user", va=eng))
    page = client.get(tree_url(account)).content.decode()
    assert "Engineering" in page and "Lab" in page and "Finance" not in page
    assert client.get(va_url(finance)).status_code == 404
