"""Roles: one per person and scope, VA roles reach descendants, the last Admin stays, one-query selectors."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from smartaccounts import selectors, services
from smartaccounts.models import Event, Role
from tests.factories import grant, make_user, make_va

pytestmark = pytest.mark.django_db


def test_a_va_role_reaches_the_descendants_only(account):
    eng = make_va(account, "Engineering")
    lab = make_va(account, "Lab", parent=eng)
    make_va(account, "Finance")
    user = grant(make_user("u@acme.example.com"), "user", va=eng)
    names = set(selectors.virtual_accounts_for(user, account, "operate").values_list("name", flat=True))
    assert names == {"Engineering", "Lab"}
    assert selectors.effective_role(user, lab) == Role.USER
    assert not selectors.virtual_accounts_for(user, account, "admin").exists()


def test_virtual_accounts_for_answers_in_one_query(account):
    for i in range(5):
        make_va(account, f"VA {i}")
    user = grant(make_user("u@acme.example.com"), "viewer", account=account)
    with CaptureQueriesContext(connection) as queries:
        list(selectors.virtual_accounts_for(user, account, "view"))
    assert len(queries) == 1


def test_effective_roles_answers_for_several_vas_in_one_query_as_effective_role_does(account, other_account):
    eng = make_va(account, "Engineering")
    lab = make_va(account, "Lab", parent=eng)
    bench = make_va(account, "Bench", parent=lab)
    finance = make_va(account, "Finance")
    elsewhere = make_va(other_account, "Engineering")
    user = grant(make_user("u@acme.example.com"), "viewer", account=account)
    grant(user, "user", va=eng)
    grant(user, "admin", va=bench)
    grant(user, "admin", va=elsewhere)  # another account's grant reaches nothing here
    vas = [bench, lab, finance, eng]
    with CaptureQueriesContext(connection) as queries:
        roles = selectors.effective_roles(user, vas)
    assert len(queries) == 1
    assert roles == {bench.pk: Role.ADMIN, lab.pk: Role.USER, finance.pk: Role.VIEWER, eng.pk: Role.USER}
    assert roles == {va.pk: selectors.effective_role(user, va) for va in vas}
    assert selectors.effective_roles(make_user("nobody@acme.example.com"), vas) == dict.fromkeys(roles)


def test_a_deleted_ancestor_no_longer_lends_its_role(account):
    eng = make_va(account, "Engineering")
    lab = make_va(account, "Lab", parent=eng)
    user = grant(make_user("u@acme.example.com"), "user", va=eng)
    type(eng).objects.filter(pk=eng.pk).update(deleted_at=timezone.now())
    assert selectors.effective_roles(user, [lab]) == {lab.pk: None}
    with pytest.raises(PermissionDenied, match="User role on Lab"):
        services.require_va_roles(user, [lab], "operate")


def test_require_va_roles_names_the_first_va_the_actor_may_not_act_on(account):
    eng, finance = make_va(account, "Engineering"), make_va(account, "Finance")
    user = grant(make_user("u@acme.example.com"), "user", va=eng)
    services.require_va_roles(user, [eng], "operate")
    with pytest.raises(PermissionDenied, match="You need the User role on Finance to do this."):
        services.require_va_roles(user, [eng, finance], "operate")
    with pytest.raises(PermissionDenied, match="You need the Admin role on Engineering to do this."):
        services.require_va_roles(user, [eng, finance], "admin")


def test_a_person_holds_one_role_per_scope_and_a_change_replaces_it(account):
    user = grant(make_user("u@acme.example.com"), "viewer", account=account)
    services.assign_role(actor=account.created_by, user=user, role="user", smart_account=account)
    assert services.role_on_scope(user, account, None) == Role.USER
    assert Event.objects.filter(action="role.changed", details__user=user.email).exists()


def test_the_last_admin_cannot_be_demoted_or_removed(account):
    admin = account.created_by
    with pytest.raises(ValidationError, match="last Admin"):
        services.assign_role(actor=admin, user=admin, role="viewer", smart_account=account)
    with pytest.raises(ValidationError, match="last Admin"):
        services.revoke_role(actor=admin, user=admin, smart_account=account)
    second = grant(make_user("second@acme.example.com"), "admin", account=account)
    services.revoke_role(actor=second, user=admin, smart_account=account)
    assert services.role_on_scope(admin, account, None) is None


def test_an_unconfirmed_login_cannot_be_given_a_role(account):
    newcomer = make_user("new@acme.example.com", email_verified_at=None)
    with pytest.raises(ValidationError, match="has not confirmed their e-mail address"):
        services.assign_role(actor=account.created_by, user=newcomer, role="viewer", smart_account=account)


def test_a_va_admin_manages_roles_in_their_subtree_only(account):
    eng = make_va(account, "Engineering")
    lab = make_va(account, "Lab", parent=eng)
    finance = make_va(account, "Finance")
    boss = grant(make_user("boss@acme.example.com"), "admin", va=eng)
    person = make_user("p@acme.example.com")
    services.assign_role(actor=boss, user=person, role="user", virtual_account=lab)
    with pytest.raises(PermissionDenied):
        services.assign_role(actor=boss, user=person, role="user", virtual_account=finance)
    with pytest.raises(PermissionDenied):
        services.assign_role(actor=boss, user=person, role="viewer", smart_account=account)


def test_users_and_viewers_cannot_manage_roles(account):
    user = grant(make_user("u@acme.example.com"), "user", account=account)
    with pytest.raises(PermissionDenied):
        services.assign_role(actor=user, user=make_user("x@acme.example.com"), role="viewer", smart_account=account)


def test_without_a_role_every_account_page_is_404(client, account, other_account):
    client.force_login(other_account.created_by)
    for name in ("account_home", "virtual_accounts", "account_events", "account_users"):
        assert client.get(reverse(name, args=[account.pk])).status_code == 404


def test_too_low_a_role_is_403(client, account):
    client.force_login(grant(make_user("u@acme.example.com"), "user", account=account))
    assert client.get(reverse("account_users", args=[account.pk])).status_code == 403
