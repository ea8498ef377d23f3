"""Tables of the accounts pages (django-tables2), and the base every table of the portal uses."""

from __future__ import annotations

import django_tables2 as tables


class PortalTable(tables.Table):
    """A table in the portal's look, rendered by `templates/includes/table.html`. The selector orders the
    rows and the page paginates them (`smartaccounts.pagination`): tables never sort or page themselves."""

    class Meta:
        template_name = "includes/table.html"
        attrs = {"class": "table"}
        orderable = False
