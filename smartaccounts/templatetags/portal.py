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
