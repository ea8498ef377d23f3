"""The Virtual Account tree: ordering, per-VA counts, subtree totals and the count-column registry."""

import pytest

from smartaccounts import tree
from smartaccounts.models import VirtualAccount
from tests.factories import grant, make_user, make_va

pytestmark = pytest.mark.django_db


@pytest.fixture
def extra_column():
    calls = []

    def fn(smart_account, va_ids):
        calls.append(list(va_ids))
        return dict.fromkeys(va_ids, 2)

    tree.register_count("test-two", "Two each", fn, order=99)
    yield calls
    tree._columns.pop("test-two", None)


def test_tree_orders_siblings_by_name_and_nests_children(account):
    zulu = make_va(account, "Zulu")
    alpha = make_va(account, "alpha")
    make_va(account, "Child B", parent=alpha)
    make_va(account, "Child A", parent=alpha)
    make_va(account, "Grandchild", parent=zulu)
    vas = VirtualAccount.objects.filter(smart_account=account, deleted_at__isnull=True)
    rows = tree.build_tree(account, vas)
    assert [(r.va.name, r.depth) for r in rows] == [
        ("alpha", 0),
        ("Child A", 1),
        ("Child B", 1),
        ("DEFAULT", 0),
        ("Zulu", 0),
        ("Grandchild", 1),
    ]
    assert [r.closes for r in rows] == [0, 0, 1, 0, 0, 1]
    assert rows[0].has_children and not rows[1].has_children
    assert rows[2].path == ("alpha",)


def test_member_counts_per_va_and_per_subtree(account):
    top = make_va(account, "Top")
    mid = make_va(account, "Mid", parent=top)
    leaf = make_va(account, "Leaf", parent=mid)
    grant(make_user("a@acme.example.com"), "viewer", va=top)
    grant(make_user("b@acme.example.com"), "user", va=leaf)
    grant(make_user("c@acme.example.com"), "viewer", va=leaf)
    rows = {r.va.name: r for r in tree.build_tree(account, VirtualAccount.objects.filter(smart_account=account))}
    assert rows["Leaf"].counts["members"] == 2 and rows["Leaf"].totals["members"] == 2
    assert rows["Mid"].counts["members"] == 0 and rows["Mid"].totals["members"] == 2
    assert rows["Top"].counts["members"] == 1 and rows["Top"].totals["members"] == 3


def test_a_registered_column_is_called_once_for_the_whole_tree(account, extra_column):
    top = make_va(account, "Top")
    make_va(account, "Child", parent=top)
    rows = {r.va.name: r for r in tree.build_tree(account, VirtualAccount.objects.filter(smart_account=account))}
    assert len(extra_column) == 1
    assert rows["Child"].counts["test-two"] == 2
    assert rows["Top"].totals["test-two"] == 4
    assert [c.key for c in tree.columns_for(account)][-1] == "test-two"


def test_a_column_limited_to_other_kinds_is_not_shown(account):
    tree.register_count("partner-only", "Orders held", lambda a, ids: {}, kinds=("partner_holding",))
    try:
        assert "partner-only" not in [c.key for c in tree.columns_for(account)]
    finally:
        tree._columns.pop("partner-only", None)


def test_a_subset_of_the_tree_shows_its_top_vas_as_roots(account):
    top = make_va(account, "Top")
    mid = make_va(account, "Mid", parent=top)
    make_va(account, "Leaf", parent=mid)
    mid.refresh_from_db()
    subset = VirtualAccount.objects.filter(pk__in=[mid.pk, *mid.get_descendants().values_list("pk", flat=True)])
    rows = tree.build_tree(account, subset)
    assert [(r.va.name, r.depth) for r in rows] == [("Mid", 0), ("Leaf", 1)]
