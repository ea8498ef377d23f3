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


class DecidedAccessRequestTable(PortalTable):
    """Access requests already approved or declined, most recent first."""

    requester = tables.Column(accessor="requester__email", verbose_name="Who")
    decision = tables.TemplateColumn(
        '{% if record.status == "approved" %}<span class="badge badge-ok">Approved</span> '
        "{{ record.get_granted_role_display }} on {% if record.granted_virtual_account %}"
        "{{ record.granted_virtual_account.name }}{% else %}the entire account{% endif %}"
        '{% else %}<span class="badge badge-bad">Declined</span> {{ record.reason }}{% endif %}',
        verbose_name="Decision",
    )
    decided_by = tables.Column(accessor="decided_by__email", verbose_name="By")
    decided_at = tables.DateTimeColumn(format="Y-m-d H:i", verbose_name="When", attrs={"td": {"class": "nowrap"}})
