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


@register.filter
def get_item(mapping, key):
    return mapping.get(key) if mapping else None


@register.simple_tag
def va_tree(rows, base_url, fold=False, testid="va-tree"):
    """The nested, collapsible list of a Virtual Account tree (`smartaccounts.tree.build_tree` rows).

    Built in Python: a template loop over thousands of VAs costs seconds, this costs milliseconds.
    `fold`: branches below the top level start collapsed (big trees).
    """
    from django.utils.html import escape

    out = [f'<ul class="tree" data-testid="{escape(testid)}">']
    for row in rows:
        va = row.va
        name = escape(va.name)
        folded = fold and row.has_children and row.depth >= 1
        out.append(f'<li class="tree-node{" collapsed" if folded else ""}" data-va="{va.pk}"><div class="tree-row">')
        if row.has_children:
            out.append(
                f'<button type="button" class="tree-toggle" aria-expanded="{"false" if folded else "true"}" '
                f'aria-label="Show or hide {name}\'s children">▾</button>'
            )
        else:
            out.append('<span class="tree-spacer"></span>')
        out.append(f'<a href="{escape(base_url)}{va.pk}/">{name}</a>')
        if va.is_default:
            out.append(' <span class="badge badge-ok">Default</span>')
        out.append('<span class="tree-counts">')
        for label, own, total in row.values:
            out.append(f'<span class="nowrap">{escape(label)} <strong>{int(own)}</strong> / {int(total)}</span>')
        out.append("</span></div>")
        out.append("<ul>" if row.has_children else "</li>")
        out.append("</ul></li>" * row.closes)
    out.append("</ul>")
    return mark_safe("".join(out))
