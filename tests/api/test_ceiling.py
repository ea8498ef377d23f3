"""The API client's ceiling (smartaccounts.access): a token acting as a person never does more than the
client's role, nor outside the client's scope, through every entry point of the permission module."""

from __future__ import annotations

import itertools

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smartaccounts import access, selectors
from smartaccounts.models import AccessRequest, Event, Role, SmartAccount, VirtualAccount
from smartaccounts.services.events import record_event
from tests.factories import default_va, grant, make_account, make_user, make_va

pytestmark = pytest.mark.django_db

ROLES = [Role.ADMIN, Role.USER, Role.VIEWER]
ACTIONS = ["view", "operate", "admin"]


def weaker(a: Role | None, b: Role | None) -> Role | None:
    if a is None or b is None:
        return None
    return a if a.rank <= b.rank else b


def _ceiling(user, account, role, va=None):
    va = VirtualAccount.objects.get(pk=va.pk) if va is not None else None  # fresh tree fields
    return access.Ceiling.of(user, account.pk, role, virtual_account=va, client_name="Script")


@pytest.mark.parametrize("person_role,client_role", list(itertools.product(ROLES, ROLES)))
def test_account_scope_caps_the_role_everywhere(person_role, client_role):
    account, other = make_account(), make_account()
    lab = make_va(account, "Lab")
    person = grant(make_user(), person_role, account=account)
    grant(person, "admin", account=other)
    expected = weaker(person_role, client_role)
    with access.under_ceiling(_ceiling(person, account, client_role)):
        roles = access.account_roles(person, account)
        assert (roles.on_account, roles.strongest) == (expected, expected)
        assert access.account_roles(person, other) == access.AccountRoles()
        assert access.roles_for(person, [lab, default_va(other)]) == {lab.pk: expected, default_va(other).pk: None}
        assert list(selectors.smart_accounts_for(person)) == [account]
        for action in ACTIONS:
            reached = set(access.reached_virtual_accounts(person, action).values_list("pk", flat=True))
            assert reached == ({lab.pk, default_va(account).pk} if expected.allows(action) else set())
            accounts = access.restrict(SmartAccount.objects.all(), person, action)
            assert list(accounts) == ([account] if expected.allows(action) else [])
    # Outside the ceiling the person is themself again.
    assert access.account_roles(person, other).on_account == Role.ADMIN


@pytest.mark.parametrize(
    "person_role,client_role,person_on", list(itertools.product(ROLES, ROLES, ["account", "lab", "bench", "prod"]))
)
def test_va_scope_caps_role_and_subtree(person_role, client_role, person_on):
    account = make_account()
    lab = make_va(account, "Lab")
    bench = make_va(account, "Bench", parent=lab)
    prod = make_va(account, "Prod")
    vas = {"lab": lab, "bench": bench, "prod": prod}
    person = make_user()
    if person_on == "account":
        grant(person, person_role, account=account)
    else:
        grant(person, person_role, va=vas[person_on])
    own = access.roles_for(person, [lab, bench, prod])
    with access.under_ceiling(_ceiling(person, account, client_role, va=lab)):
        capped = access.roles_for(person, [lab, bench, prod])
        assert capped[prod.pk] is None  # outside the client's subtree
        for va in (lab, bench):
            assert capped[va.pk] == weaker(own[va.pk], client_role)
        roles = access.account_roles(person, account)
        assert roles.on_account is None  # a VA-scoped client never acts on the account itself
        in_scope = [r for r in (capped[lab.pk], capped[bench.pk]) if r is not None]
        assert roles.strongest == (max(in_scope, key=lambda r: r.rank) if in_scope else None)
        for action in ACTIONS:
            reached = access.reached_virtual_accounts(person, action, smart_account=account)
            allowed = {va.pk for va in (lab, bench) if capped[va.pk] is not None and capped[va.pk].allows(action)}
            assert set(reached.values_list("pk", flat=True)) == allowed
            events = access.restrict(Event.objects.filter(smart_account=account), person, action)
            assert prod.pk not in set(events.values_list("virtual_account_id", flat=True))
            # rows of the whole account (e.g. access requests) are beyond a VA-scoped client
            assert not access.restrict(AccessRequest.objects.filter(smart_account=account), person, action).exists()
        va = access.with_va_roles(VirtualAccount.objects.filter(pk__in=[lab.pk, prod.pk]), person).order_by("pk")
        assert [access.va_role(v) for v in va] == [capped[lab.pk], None]


def test_ceiling_applies_to_its_user_only_and_is_reset():
    account = make_account()
    person, colleague = grant(make_user(), "admin", account=account), grant(make_user(), "admin", account=account)
    with access.under_ceiling(_ceiling(person, account, Role.VIEWER)):
        assert access.account_roles(person, account).on_account == Role.VIEWER
        assert access.account_roles(colleague, account).on_account == Role.ADMIN
    assert access.current_ceiling() is None
    assert access.account_roles(person, account).on_account == Role.ADMIN


def test_event_builder_names_the_client_only_for_the_ceilings_user():
    account = make_account()
    person, colleague = make_user(), make_user()
    with access.under_ceiling(_ceiling(person, account, Role.ADMIN)):
        mine = record_event(actor=person, smart_account=account, action="x.y", message="m", details={"a": 1})
        theirs = record_event(actor=colleague, smart_account=account, action="x.y", message="m")
    assert mine.details == {"a": 1, "api_client": "Script"}
    assert theirs.details == {}


# --- a property test: the ceiling against the rule in plain words ----------------------------------------

trees = st.lists(st.integers(min_value=-1, max_value=30), min_size=1, max_size=6)  # parent: an earlier VA or none
person_grants = st.lists(
    st.tuples(st.sampled_from(ROLES), st.one_of(st.none(), st.integers(min_value=0, max_value=30))), max_size=4
)


def _reference(va, by_pk, account_role, va_grants) -> Role | None:
    """The person's own role on a VA, walking parent links: the account role, the VA's and its live ancestors'."""
    found, node = [account_role], va
    while node is not None:
        if node.deleted_at is None:
            found.append(va_grants.get(node.pk))
        node = by_pk.get(node.parent_id)
    return access.strongest(*found)


def _under(va, top, by_pk) -> bool:
    node = va
    while node is not None:
        if node.pk == top.pk:
            return True
        node = by_pk.get(node.parent_id)
    return False


@pytest.fixture
def two_accounts(db):
    return make_account(), make_account()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    parents=trees,
    granted=person_grants,
    client_role=st.sampled_from(ROLES),
    scope=st.one_of(st.none(), st.integers(min_value=0, max_value=30)),
    deleted=st.lists(st.integers(1, 30), max_size=1),
)
def test_ceiling_matches_the_rule_in_plain_words(two_accounts, parents, granted, client_role, scope, deleted):
    account, other = two_accounts
    with transaction.atomic():
        made = [default_va(account)]
        for i, parent in enumerate(parents):
            made.append(make_va(account, f"P{i}", parent=made[parent % len(made)] if parent >= 0 else None))
        person = make_user()
        grant(person, "admin", account=other)
        account_role, va_grants = None, {}
        for role, where in granted:
            if where is None:
                grant(person, role.value, account=account)
                account_role = role
            else:
                va = made[where % len(made)]
                grant(person, role.value, va=va)
                va_grants[va.pk] = role
        doomed = {made[i % len(made)].pk for i in deleted} - {made[0].pk}
        top = made[scope % len(made)] if scope is not None else None
        if top is not None:
            doomed.discard(top.pk)  # a client's VA is live (deleting a VA with a client is refused)
        VirtualAccount.objects.filter(pk__in=doomed).update(deleted_at=timezone.now())
        current = list(VirtualAccount.objects.filter(smart_account=account))
        by_pk = {va.pk: va for va in current}
        expected = {}
        for va in current:
            in_scope = top is None or _under(va, top, by_pk)
            expected[va.pk] = weaker(_reference(va, by_pk, account_role, va_grants), client_role) if in_scope else None
        with access.under_ceiling(_ceiling(person, account, client_role, va=top)):
            assert access.roles_for(person, current) == expected
            live = {va.pk for va in current if va.deleted_at is None}
            for action in ACTIONS:
                reached = access.reached_virtual_accounts(person, action, smart_account=account)
                allowed = {pk for pk in live if expected[pk] is not None and expected[pk].allows(action)}
                assert set(reached.values_list("pk", flat=True)) == allowed
            in_scope_roles = [expected[pk] for pk in live if expected[pk] is not None]
            roles = access.account_roles(person, account)
            assert roles.strongest == access.strongest(*in_scope_roles)
            assert roles.on_account == (weaker(account_role, client_role) if top is None else None)
            assert access.account_roles(person, other) == access.AccountRoles()
        transaction.set_rollback(True)
