"""The tabs under the header of every account page.

Each app registers its tabs in its AppConfig.ready(); a tab shows only when the user's role
allows its action and the account's kind is one it applies to.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Count, OuterRef, QuerySet
from django.urls import reverse

from .db import scalar


@dataclass(frozen=True)
class NavItem:
    label: str
    url_name: str  # takes `account_id`
    action: str = "view"
    kinds: tuple[str, ...] | None = None
    order: int = 100
    active_for: tuple[str, ...] = field(default_factory=tuple)  # more url names that highlight this tab
    # `action="admin"` tabs show to account Admins; with `va_admins=True` also to Admins of some VAs.
    va_admins: bool = False
    # callable(smart_account) -> QuerySet: what a count beside the label counts (account Admins only; 0 hides it).
    # Also called with OuterRef("pk") for the account: pages read every badge in the query that reads their
    # account (`with_badges`).
    badge: object = None
    # The tab is also the current one on every page of a Virtual Account (its hub, see `register_va_tab`).
    active_for_va_pages: bool = False


_registry: dict[str, NavItem] = {}


def register(item: NavItem) -> None:
    _registry[item.url_name] = item


def remember_badge(request, url_name: str, count: int) -> None:
    """A page that has just counted what a tab's badge shows (the account home lists the pending access
    requests and incoming hand-overs) hands the number to the header, which then does not count it again."""
    counts = getattr(request, "_nav_badge_counts", None)
    if counts is None:
        counts = request._nav_badge_counts = {}
    counts[url_name] = count


def remembered_badge(request, url_name: str) -> int | None:
    """The count a tab's badge shows, when this request has read it already (else None)."""
    return (getattr(request, "_nav_badge_counts", None) or {}).get(url_name)


def _badge_field(url_name: str) -> str:
    return f"nav_badge_{url_name}"


def with_badges(accounts: QuerySet) -> QuerySet:
    """An account query annotated with every tab badge's count: the header then asks no query of its own for
    them (`remember_badges` hands them over)."""
    return accounts.annotate(
        **{
            _badge_field(name): scalar(item.badge(OuterRef("pk")), Count("pk"), default=0)
            for name, item in _registry.items()
            if item.badge is not None
        }
    )


def remember_badges(request, smart_account) -> None:
    """The badge counts an account read through `with_badges` carries, handed to the header."""
    for name in _registry:
        count = getattr(smart_account, _badge_field(name), None)
        if count is not None:
            remember_badge(request, name, count)


def items_for(request, smart_account, role, account_role) -> list[dict]:
    current = getattr(getattr(request, "resolver_match", None), "url_name", None)
    known = getattr(request, "_nav_badge_counts", None) or {}
    items = []
    for item in sorted(_registry.values(), key=lambda i: (i.order, i.label)):
        if item.kinds is not None and smart_account.kind not in item.kinds:
            continue
        is_account_admin = account_role is not None and account_role.allows("admin")
        if item.action == "admin":
            if not (is_account_admin or (item.va_admins and role is not None and role.allows("admin"))):
                continue
        elif role is None or not role.allows(item.action):
            continue
        items.append(
            {
                "label": item.label,
                "url": reverse(item.url_name, kwargs={"account_id": smart_account.pk}),
                "active": current == item.url_name
                or current in item.active_for
                or (item.active_for_va_pages and current in va_page_names()),
                "badge": (known[item.url_name] if item.url_name in known else item.badge(smart_account).count())
                if item.badge is not None and is_account_admin
                else 0,
            }
        )
    return items


# --- Tabs of a Virtual Account (its hub) -------------------------------------------------------------

_va_registry: dict[str, NavItem] = {}


def register_va_tab(item: NavItem) -> None:
    """A tab of a Virtual Account's pages: `url_name` takes `account_id` and `va_id` and is the same view as
    the account tab of that name, scoped to the VA. `action` is checked against the role on the VA."""
    _va_registry[item.url_name] = item


def va_page_names() -> set[str]:
    """The URL names of a Virtual Account's pages: its tabs and the pages they stay current on."""
    return {name for item in _va_registry.values() for name in (item.url_name, *item.active_for)}


def va_items_for(request, smart_account, virtual_account, role) -> list[dict]:
    current = getattr(getattr(request, "resolver_match", None), "url_name", None)
    kwargs = {"account_id": smart_account.pk, "va_id": virtual_account.pk}
    return [
        {
            "label": item.label,
            "url": reverse(item.url_name, kwargs=kwargs),
            "active": current == item.url_name or current in item.active_for,
        }
        for item in sorted(_va_registry.values(), key=lambda i: (i.order, i.label))
        if (item.kinds is None or smart_account.kind in item.kinds) and role is not None and role.allows(item.action)
    ]


# --- Panels on the account home page ----------------------------------------------------------------


@dataclass(frozen=True)
class Panel:
    """A block on the account home page. `context(view)` returns the template's context; it runs
    only when the panel is shown, and must read through the selectors (the view gives
    `view.smart_account`, `view.role`, `view.visible_virtual_accounts()`)."""

    key: str
    template_name: str
    context: object  # callable(view) -> dict
    action: str = "view"
    kinds: tuple[str, ...] | None = None
    order: int = 100


_panels: dict[str, Panel] = {}


def register_panel(panel: Panel) -> None:
    _panels[panel.key] = panel


def panels_for(view) -> list[dict]:
    shown = []
    for panel in sorted(_panels.values(), key=lambda p: (p.order, p.key)):
        if panel.kinds is not None and view.smart_account.kind not in panel.kinds:
            continue
        if not view.can(panel.action):
            continue
        shown.append({"template_name": panel.template_name, "context": panel.context(view)})
    return shown


# --- What waits for staff (their landing page) -------------------------------------------------------


@dataclass(frozen=True)
class StaffQueue:
    """Something staff decide in the admin, listed on their landing page with how many wait.

    `count()` reads one number; `url` is the admin list filtered to what waits."""

    key: str
    label: str
    count: object  # callable() -> int
    url: object  # callable() -> str
    order: int = 100


_staff_queues: dict[str, StaffQueue] = {}


def register_staff_queue(queue: StaffQueue) -> None:
    _staff_queues[queue.key] = queue


def staff_queues() -> list[dict]:
    """Every registered queue with its count, in order (one query each)."""
    return [
        {"key": q.key, "label": q.label, "count": q.count(), "url": q.url()}
        for q in sorted(_staff_queues.values(), key=lambda q: (q.order, q.key))
    ]
