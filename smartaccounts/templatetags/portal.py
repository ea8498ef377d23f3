from html import escape

from django import template
from django.utils.safestring import mark_safe

from smartaccounts import navigation

register = template.Library()


@register.simple_tag(takes_context=True)
def active_if(context, *url_names):
    """aria-current="page" when the current URL's name is one of `url_names`."""
    match = getattr(context.get("request"), "resolver_match", None)
    if match and match.url_name in url_names:
        return mark_safe('aria-current="page"')
    return ""


@register.simple_tag(takes_context=True)
def account_nav_items(context):
    return navigation.items_for(
        context.get("request"), context["smart_account"], context.get("role"), context.get("account_role")
    )


@register.simple_tag(takes_context=True)
def va_nav_items(context):
    return navigation.va_items_for(
        context.get("request"), context["smart_account"], context["virtual_account"], context.get("role")
    )


# A lazy branch's toggle loads the rows into the list after it, unless they are there already.
LOAD_BRANCH = (
    'hx-target="next ul" hx-swap="innerHTML" '
    "hx-trigger=\"click[!this.closest('.tree-node').querySelector(':scope > ul > li:not(.branch-placeholder)')]\""
)


@register.simple_tag
def va_tree(rows, base_url, fold=False, testid="va-tree", branch_url="", wrap=True):
    """The nested, collapsible list of a Virtual Account tree (`smartaccounts.tree.build_tree` rows).

    Built in Python: a template loop over thousands of VAs costs seconds, this costs milliseconds.
    `fold`: branches below the top level start collapsed (big trees). A lazy row (`build_tree(max_depth=...)`)
    gets an empty list that its toggle fills with htmx from `branch_url` + its id when opened (again after
    a failed load, see static/js/portal.js). `wrap=False`: the list items only
    (a branch loaded into that list). Names and labels are escaped with the standard library's
    `html.escape` (what Django's `escape` does, without its per-call overhead).
    """
    base = escape(base_url)
    branch = escape(branch_url)
    labels = {}
    out = [f'<ul class="tree" data-testid="{escape(testid)}">'] if wrap else []
    append = out.append
    for row in rows:
        va = row.va
        name = escape(va.name)
        folded = (fold and row.has_children and row.depth >= 1) or row.lazy
        append(f'<li class="tree-node{" collapsed" if folded else ""}" data-va="{va.pk}"><div class="tree-row">')
        if row.has_children:
            load = f' hx-get="{branch}{va.pk}" {LOAD_BRANCH}' if row.lazy else ""
            append(
                f'<button type="button" class="tree-toggle" aria-expanded="{"false" if folded else "true"}" '
                f'aria-label="Show or hide {name}\'s children"{load}>▾</button>'
            )
        else:
            append('<span class="tree-spacer"></span>')
        append(f'<a href="{base}{va.pk}/">{name}</a>')
        if va.is_default:
            append(' <span class="badge badge-ok">Default</span>')
        append('<span class="tree-counts">')
        for label, own, total in row.values:
            text = labels.get(label)
            if text is None:
                text = labels[label] = escape(label)
            append(f'<span class="nowrap">{text} <strong>{int(own)}</strong> / {int(total)}</span>')
        append("</span></div>")
        if row.lazy:
            append(f'<ul data-branch="{branch}{va.pk}"></ul></li>')
        else:
            append("<ul>" if row.has_children else "</li>")
        if row.closes:
            append("</ul></li>" * row.closes)
    if wrap:
        append("</ul>")
    return mark_safe("".join(out))
