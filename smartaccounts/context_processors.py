from . import selectors


def navigation(request):
    """The header's account switcher: the accounts the signed-in user holds a role in."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}

    def switcher():
        return list(selectors.smart_accounts_for(user).only("id", "name", "kind", "status"))

    # Lazy: pages that never render the header (JSON, CSV) do not pay for the query.
    from django.utils.functional import SimpleLazyObject

    return {"switcher_accounts": SimpleLazyObject(switcher)}
