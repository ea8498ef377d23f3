"""The Virtual Account tree of a page, with count columns other apps can add.

Public API
----------
``register_count(key, label, fn, *, order=100, kinds=None, help_text="")``
    Adds a count column to the Virtual Accounts tree page (and to anything else that calls
    ``build_tree``). Call it from your app's ``AppConfig.ready()``::

        from django.db.models import Count
        from smartaccounts.tree import register_count

        def device_counts(smart_account, va_ids):
            rows = (
                ProductInstance.objects.filter(smart_account=smart_account)
                .exclude(status="removed")
                .values_list("virtual_account_id")
                .annotate(n=Count("id"))
            )
            return dict(rows)

        register_count("devices", "Product instances", device_counts, order=30,
                       kinds=("customer", "limited_use"))

    ``fn(smart_account, va_ids) -> {va_id: n}`` must answer with ONE grouped query for the
    whole tree, whatever its size: never a query per VA. ``va_ids`` is the list of the VAs
    shown (the ones the user may view; up to thousands), so prefer filtering by
    ``smart_account`` and let ids that are not shown be ignored; ids missing from the answer
    count 0. ``n`` is an int (quantities may be summed with ``Sum``). ``kinds`` limits the
    column to some kinds of account (``SmartAccount.Kind`` values); ``order`` sorts the
    columns (members are at 10).

``build_tree(smart_account, virtual_accounts, *, max_depth=None, branch=None) -> list[TreeRow]``
    Orders the given VAs as a tree (siblings by name), computes each registered column once
    and sums the subtree totals in Python over that flat list. A VA whose parent is not in
    the list is shown as a root (a VA-scoped user sees their subtrees only). Rows are made for
    what is shown only: ``max_depth`` keeps the top levels (a row there with children is
    ``lazy``: its branch loads when opened), ``branch`` the rows below one VA (None when it
    is not in the list).

``TreeRow``: ``va``, ``depth`` (0 for a root shown), ``counts`` ({key: n on this VA}),
``totals`` ({key: n on this VA and every descendant shown}), ``values`` ([(label, on the VA,
in its subtree)] in column order, for templates), ``has_children``, ``closes`` (how many nested lists
end after this row: templates render the nesting from it), ``lazy`` and ``path`` (names from the
shown root down to the VA's parent).

``columns_for(smart_account) -> list[CountColumn]``: the columns that apply to the account.

``tree_nodes(queryset) -> list[TreeNode]``: the VAs of a queryset as light read-only rows (``pk``, ``id``,
``smart_account_id``, ``parent_id``, ``name``, ``is_default``, ``tree_id``, ``lft``, ``rght``, ``level``),
read with ``values_list``: thousands of model instances cost more than the query that loads them. Any
code that only reads those attributes (``build_tree``, the VA choice fields) takes them like VAs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from .models import SmartAccount, VirtualAccount

CountFn = Callable[[SmartAccount, list[int]], dict[int, int]]


@dataclass(frozen=True)
class CountColumn:
    key: str
    label: str
    fn: CountFn
    order: int = 100
    kinds: tuple[str, ...] | None = None
    help_text: str = ""


_columns: dict[str, CountColumn] = {}


def register_count(
    key: str,
    label: str,
    fn: CountFn,
    *,
    order: int = 100,
    kinds: tuple[str, ...] | None = None,
    help_text: str = "",
) -> None:
    """Add (or replace, by `key`) a count column of the Virtual Account tree."""
    _columns[key] = CountColumn(key=key, label=label, fn=fn, order=order, kinds=kinds, help_text=help_text)


def columns_for(smart_account: SmartAccount) -> list[CountColumn]:
    return [
        column
        for column in sorted(_columns.values(), key=lambda c: (c.order, c.key))
        if column.kinds is None or smart_account.kind in column.kinds
    ]


TREE_FIELDS = ("id", "smart_account_id", "parent_id", "name", "is_default", "tree_id", "lft", "rght", "level")


@dataclass(slots=True)
class TreeNode:
    """A VA as a tree page reads it (no model instance, no lazy relations)."""

    id: int
    smart_account_id: int
    parent_id: int | None
    name: str
    is_default: bool
    tree_id: int
    lft: int
    rght: int
    level: int

    @property
    def pk(self) -> int:
        return self.id

    def __str__(self):
        return self.name


def tree_nodes(virtual_accounts) -> list[TreeNode]:
    """The VAs of a queryset as `TreeNode`s, in one query (their order is the queryset's)."""
    return [TreeNode(*row) for row in virtual_accounts.values_list(*TREE_FIELDS)]


@dataclass
class TreeRow:
    va: VirtualAccount
    depth: int
    counts: dict[str, int] = field(default_factory=dict)
    totals: dict[str, int] = field(default_factory=dict)
    has_children: bool = False
    closes: int = 0
    lazy: bool = False  # its children are not in the page: loaded when the branch is opened
    path: tuple[str, ...] = ()
    values: list[tuple[str, int, int]] = field(default_factory=list)  # (label, on the VA, in its subtree)

    @property
    def close_range(self) -> range:
        return range(self.closes)


def _sort_key(va: VirtualAccount):
    return (va.name.casefold(), va.pk)


def build_tree(
    smart_account: SmartAccount,
    virtual_accounts: Iterable[VirtualAccount],
    *,
    max_depth: int | None = None,
    branch: int | None = None,
) -> list[TreeRow] | None:
    """The VAs as an ordered tree with per-VA counts and subtree totals; one query per column.

    The counts are added up over every VA given, but rows are made only for what is shown:
    `max_depth`: the rows down to that depth, a row there with children being lazy (its branch loads
    when opened); `branch`: the rows below that VA, depths counted from its children (None when that
    VA is not among `virtual_accounts`: not in the account, or not visible to the user)."""
    vas = list(virtual_accounts)
    by_id = {va.id: va for va in vas}
    children: dict[int | None, list[VirtualAccount]] = defaultdict(list)
    for va in vas:
        children[va.parent_id if va.parent_id in by_id else None].append(va)
    for siblings in children.values():
        siblings.sort(key=_sort_key)

    columns = columns_for(smart_account)
    ids = list(by_id)
    per_column = {c.key: (c.fn(smart_account, ids) if ids else {}) for c in columns}

    # Iterative depth-first walk (a deep tree must not hit the recursion limit): parents before children.
    order: list[tuple[VirtualAccount, int, tuple[str, ...], bool]] = []
    stack: list[tuple[VirtualAccount, int, tuple[str, ...]]] = [(va, 0, ()) for va in reversed(children[None])]
    while stack:
        va, depth, path = stack.pop()
        kids = children.get(va.id)
        order.append((va, depth, path, bool(kids)))
        if kids:
            below = (*path, va.name)
            stack.extend((child, depth + 1, below) for child in reversed(kids))

    # Subtree totals: walk the rows backwards; each adds its total to its parent's.
    index_of = {entry[0].id: i for i, entry in enumerate(order)}
    parent_index = [index_of.get(entry[0].parent_id, -1) for entry in order]
    keys = [c.key for c in columns]
    own = {key: [int(per_column[key].get(entry[0].id, 0) or 0) for entry in order] for key in keys}
    total = {key: list(values) for key, values in own.items()}
    for key in keys:
        sums = total[key]
        for i in range(len(order) - 1, -1, -1):
            parent = parent_index[i]
            if parent >= 0:
                sums[parent] += sums[i]

    shown = range(len(order))
    shift = 0
    if branch is not None:
        start = index_of.get(branch)
        if start is None:
            return None
        shift = order[start][1] + 1
        end = start + 1
        while end < len(order) and order[end][1] >= shift:
            end += 1
        shown = range(start + 1, end)
    elif max_depth is not None:
        shown = [i for i in shown if order[i][1] <= max_depth]

    labelled = [(c.label, own[c.key], total[c.key]) for c in columns]
    rows = []
    for i in shown:
        va, depth, path, has_children = order[i]
        rows.append(
            TreeRow(
                va=va,
                depth=depth - shift,
                counts={key: own[key][i] for key in keys},
                totals={key: total[key][i] for key in keys},
                has_children=has_children,
                lazy=has_children and depth == max_depth and branch is None,
                path=path,
                values=[(label, mine[i], theirs[i]) for label, mine, theirs in labelled],
            )
        )
    return _close_tags(rows)


def _close_tags(rows: list[TreeRow]) -> list[TreeRow]:
    """Set each row's `closes` (how many nested lists end after it) for the rows as they will be shown."""
    for i, row in enumerate(rows):
        next_depth = rows[i + 1].depth if i + 1 < len(rows) else 0
        row.closes = 0 if row.has_children and not row.lazy else row.depth - next_depth
    return rows


def register_default_columns() -> None:
    """The column smartaccounts itself shows: people holding a role on the VA."""
    from django.db.models import Count

    from .models import VirtualAccountUserObjectPermission

    def member_counts(smart_account: SmartAccount, va_ids: list[int]) -> dict[int, int]:
        return dict(
            VirtualAccountUserObjectPermission.objects.filter(content_object__smart_account_id=smart_account.pk)
            .values_list("content_object_id")
            .annotate(n=Count("id"))
            .order_by()
        )

    register_count(
        "members",
        "Members",
        member_counts,
        order=10,
        help_text="People with a role on the Virtual Account itself (account-wide roles are not counted).",
    )
