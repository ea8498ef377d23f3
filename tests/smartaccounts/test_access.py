"""smartaccounts.access: every role × scope through restrict() and roles_for(), and a property test of the
subtree rule against a reference that walks parent links instead of tree ranges."""

import contextlib

import pytest
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from licensing.models import Order
from smartaccounts import access, queries, services
from smartaccounts.models import Event, Role, SmartAccount, VirtualAccount
from tests.factories import default_va, grant, make_staff, make_user, make_va

pytestmark = pytest.mark.django_db

ACTIONS = ("view", "operate", "admin")


@pytest.fixture
def tree(account):
    """Acme: Engineering > Lab > Bench, and Finance beside Engineering (plus the default VA)."""
    eng = make_va(account, "Engineering")
    lab = make_va(account, "Lab", parent=eng)
    bench = make_va(account, "Bench", parent=lab)
    finance = make_va(account, "Finance")
    return {"default": default_va(account), "eng": eng, "lab": lab, "bench": bench, "finance": finance}


def names(queryset) -> set[str]:
    return set(queryset.values_list("name", flat=True))


def live_vas(account):
    return VirtualAccount.objects.filter(smart_account=account, deleted_at__isnull=True)


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("action", ACTIONS)
def test_an_account_role_reaches_every_va_of_the_account_for_the_actions_it_allows(account, tree, role, action):
    user = grant(make_user("u@acme.example.com"), role.value, account=account)
    expected = set(tree_names(tree)) if role.allows(action) else set()
    assert names(access.restrict(live_vas(account), user, action)) == expected
    assert access.roles_for(user, tree.values()) == {va.pk: role for va in tree.values()}
    assert access.account_roles(user, account) == access.AccountRoles(role, role)


def tree_names(tree):
    return [va.name for va in tree.values()]


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("action", ACTIONS)
def test_a_va_role_reaches_its_subtree_and_not_its_parent_or_siblings(account, tree, role, action):
    user = grant(make_user("u@acme.example.com"), role.value, va=tree["lab"])
    expected = {"Lab", "Bench"} if role.allows(action) else set()
    assert names(access.restrict(live_vas(account), user, action)) == expected
    roles = access.roles_for(user, tree.values())
    assert roles == {
        tree["default"].pk: None,
        tree["eng"].pk: None,  # the parent
        tree["lab"].pk: role,
        tree["bench"].pk: role,  # the child
        tree["finance"].pk: None,  # a sibling of the parent
    }
    assert access.account_roles(user, account) == access.AccountRoles(None, role)


def test_the_strongest_role_reaching_a_va_counts(account, tree):
    user = grant(make_user("u@acme.example.com"), "viewer", account=account)
    grant(user, "user", va=tree["eng"])
    grant(user, "admin", va=tree["bench"])
    roles = access.roles_for(user, tree.values())
    assert roles == {
        tree["default"].pk: Role.VIEWER,
        tree["eng"].pk: Role.USER,
        tree["lab"].pk: Role.USER,
        tree["bench"].pk: Role.ADMIN,
        tree["finance"].pk: Role.VIEWER,
    }
    assert names(access.restrict(live_vas(account), user, "operate")) == {"Engineering", "Lab", "Bench"}
    assert names(access.restrict(live_vas(account), user, "admin")) == {"Bench"}
    assert access.account_roles(user, account) == access.AccountRoles(Role.VIEWER, Role.ADMIN)


def test_another_tenants_roles_reach_nothing_here(account, other_account, tree):
    outsider = grant(make_user("boss@globex.example.org"), "admin", account=other_account)
    grant(outsider, "admin", va=make_va(other_account, "Engineering"))
    for action in ACTIONS:
        assert not access.restrict(live_vas(account), outsider, action).exists()
        assert not access.restrict(SmartAccount.objects.filter(pk=account.pk), outsider, action).exists()
    assert access.roles_for(outsider, tree.values()) == dict.fromkeys((va.pk for va in tree.values()), None)
    assert access.account_roles(outsider, account) == access.AccountRoles()
    assert names(access.restrict(SmartAccount.objects.all(), outsider)) == {other_account.name}


@pytest.mark.parametrize("who", ["anonymous", "inactive", "staff", "superuser"])
def test_people_without_a_role_reach_nothing_staff_included(account, tree, who):
    from django.contrib.auth.models import AnonymousUser

    person = {
        "anonymous": lambda: AnonymousUser(),
        "inactive": lambda: grant(make_user("gone@acme.example.com"), "admin", account=account),
        "staff": lambda: make_staff(None, "smartaccounts.change_virtualaccount", "smartaccounts.view_smartaccount"),
        "superuser": lambda: make_user("root@operator.example.net", is_staff=True, is_superuser=True),
    }[who]()
    if who == "inactive":
        type(person).objects.filter(pk=person.pk).update(is_active=False)
        person.refresh_from_db()
    for action in ACTIONS:
        assert not access.restrict(live_vas(account), person, action).exists()
        assert not access.restrict(SmartAccount.objects.all(), person, action).exists()
        assert not access.restrict(Event.objects.all(), person, action).exists()
    assert set(access.roles_for(person, tree.values()).values()) == {None}
    assert access.account_roles(person, account) == access.AccountRoles()


def test_staff_with_a_role_act_by_that_role_and_operators_by_their_model_permissions(account, tree):
    staff = grant(make_staff(None, "smartaccounts.change_virtualaccount"), "viewer", va=tree["eng"])
    assert names(access.restrict(live_vas(account), staff, "view")) == {"Engineering", "Lab", "Bench"}
    assert not access.restrict(live_vas(account), staff, "operate").exists()
    assert access.is_operator(staff, "smartaccounts.change_virtualaccount")
    assert not access.is_operator(staff, "smartaccounts.delete_virtualaccount")
    assert not access.is_operator(account.created_by, "smartaccounts.change_virtualaccount")  # not staff


def test_a_role_on_a_deleted_va_reaches_nothing(account, tree):
    user = grant(make_user("u@acme.example.com"), "user", va=tree["eng"])
    VirtualAccount.objects.filter(pk=tree["eng"].pk).update(deleted_at=timezone.now())
    assert not access.restrict(live_vas(account), user, "view").exists()
    assert access.roles_for(user, [tree["lab"]]) == {tree["lab"].pk: None}
    assert not access.restrict(SmartAccount.objects.all(), user).exists()


def test_a_va_role_sees_the_account_but_only_its_vas_rows(account, tree):
    user = grant(make_user("u@acme.example.com"), "viewer", va=tree["lab"])
    admin = account.created_by
    services.record_event(actor=admin, smart_account=account, action="test.account", message="account-wide")
    for va in tree.values():
        services.record_event(actor=admin, smart_account=account, virtual_account=va, action="test.va", message=va.name)
    assert list(access.restrict(SmartAccount.objects.all(), user)) == [account]
    seen = set(
        access.restrict(Event.objects.filter(action__startswith="test."), user).values_list("message", flat=True)
    )
    assert seen == {"Lab", "Bench"}  # neither the account-wide event nor another VA's
    admin_sees = access.restrict(Event.objects.filter(action__startswith="test."), admin)
    assert admin_sees.count() == 1 + len(tree)


def test_restrict_is_still_one_query_and_knows_a_known_account_role(account, tree):
    user = grant(make_user("u@acme.example.com"), "user", va=tree["eng"])
    with CaptureQueriesContext(connection) as queries:
        list(access.restrict(live_vas(account), user, "operate", smart_account=account))
        access.roles_for(user, tree.values())
    assert len(queries) == 2
    # A caller that knows the role on the account: no role there means the VA roles alone decide.
    known = access.restrict(live_vas(account), user, "view", smart_account=account, account_role=None)
    assert names(known) == {"Engineering", "Lab", "Bench"}
    assert names(access.restrict(live_vas(account), user, "view", account_role=Role.VIEWER)) == set(tree_names(tree))


def test_unknown_actions_and_unregistered_models_are_refused(account):
    user = grant(make_user("u@acme.example.com"), "admin", account=account)
    with pytest.raises(ValueError, match="Unknown action"):
        access.restrict(live_vas(account), user, "delete")
    with pytest.raises(ImproperlyConfigured, match="Order has no access path"):
        access.restrict(Order.objects.all(), user)


# --- the subtree rule against a reference that follows parent links -------------------------------------------

trees = st.lists(st.integers(min_value=-1, max_value=30), min_size=1, max_size=7)  # parent: an earlier VA or none
grants = st.lists(
    st.tuples(st.sampled_from(list(Role)), st.one_of(st.none(), st.integers(min_value=0, max_value=30))),
    max_size=4,
)


def reference_role(va, by_pk, account_role, va_grants) -> Role | None:
    """The rule in plain words: the account role, and the roles on the VA and each live ancestor, by parent link."""
    found = [account_role]
    node = va
    while node is not None:
        if node.deleted_at is None:
            found.append(va_grants.get(node.pk))
        node = by_pk.get(node.parent_id)
    return access.strongest(*found)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    parents=trees,
    other_parents=trees,
    granted=grants,
    moves=st.lists(st.tuples(st.integers(0, 30), st.integers(-1, 30)), max_size=2),
    deleted=st.lists(st.integers(0, 30), max_size=2),
)
def test_restrict_and_roles_for_follow_the_parent_links(
    account, other_account, parents, other_parents, granted, moves, deleted
):
    with transaction.atomic():
        _check_against_reference(
            account, other_account, parents, other_parents, granted=granted, moves=moves, deleted=deleted
        )
        transaction.set_rollback(True)


def _build(account, parents, label):
    made = [default_va(account)]
    for i, parent in enumerate(parents):
        made.append(make_va(account, f"{label} {i}", parent=made[parent % len(made)] if parent >= 0 else None))
    return made


def _check_against_reference(account, other_account, parents, other_parents, *, granted, moves, deleted):
    vas = _build(account, parents, "VA")
    others = _build(other_account, other_parents, "Other")
    for va_index, parent_index in moves:
        va = vas[va_index % len(vas)]
        parent = vas[parent_index % len(vas)] if parent_index >= 0 else None
        with contextlib.suppress(ValidationError):  # under its own descendant: refused, the tree stays as it was
            services.move_virtual_account(actor=account.created_by, virtual_account=va, parent=parent)
    user = make_user(f"p{len(parents)}x{len(granted)}@acme.example.com")
    account_role, va_grants = None, {}
    for role, where in granted:
        if where is None:
            services.assign_role(actor=account.created_by, user=user, role=role.value, smart_account=account)
            account_role = role
        else:
            pool = vas + others
            va = pool[where % len(pool)]
            services.assign_role(actor=va.smart_account.created_by, user=user, role=role.value, virtual_account=va)
            if va.smart_account_id == account.pk:
                va_grants[va.pk] = role
    doomed = {vas[i % len(vas)].pk for i in deleted} - {vas[0].pk}
    VirtualAccount.objects.filter(pk__in=doomed).update(deleted_at=timezone.now())  # rows kept, as deletion does
    current = list(VirtualAccount.objects.filter(smart_account=account))
    by_pk = {va.pk: va for va in current}
    expected = {va.pk: reference_role(va, by_pk, account_role, va_grants) for va in current}
    assert access.roles_for(user, current) == expected
    for action in ACTIONS:
        reached = set(access.restrict(live_vas(account), user, action).values_list("pk", flat=True))
        live = {va.pk for va in current if va.deleted_at is None}
        assert reached == {pk for pk in live if expected[pk] is not None and expected[pk].allows(action)}
        assert reached == set(
            access.reached_virtual_accounts(user, action, smart_account=account).values_list("pk", flat=True)
        )


# --- the written-out statement of queries.py against its ORM reference (PostgreSQL) ------------------------


@pytest.mark.postgres
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    parents=trees,
    other_parents=trees,
    granted=st.lists(st.tuples(st.integers(0, 1), st.sampled_from(list(Role)), st.integers(-1, 30)), max_size=6),
    deleted=st.lists(st.integers(0, 30), max_size=2),
)
def test_roles_reaching_sql_equals_its_orm_reference(
    postgres, account, other_account, parents, other_parents, granted, deleted
):
    with transaction.atomic():
        vas = _build(account, parents, "VA") + _build(other_account, other_parents, "Other")
        people = [make_user("first@acme.example.com"), make_user("second@acme.example.com")]
        for who, role, where in granted:
            scope = {"smart_account": (account, other_account)[where % 2]} if where < 0 or where % 3 == 0 else {}
            if not scope:
                scope = {"virtual_account": vas[where % len(vas)]}
            owner = (scope.get("smart_account") or scope.get("virtual_account").smart_account).created_by
            services.assign_role(actor=owner, user=people[who], role=role.value, **scope)
        defaults = {va.pk for va in vas if va.is_default}
        VirtualAccount.objects.filter(pk__in={vas[i % len(vas)].pk for i in deleted} - defaults).update(
            deleted_at=timezone.now()
        )
        ids = [va.pk for va in vas]
        for person in people:
            assert sorted(queries.roles_reaching(person.pk, ids)) == sorted(access.roles_reaching(person, ids))
        transaction.set_rollback(True)
