"""Tables of the policy list pages (django-tables2)."""

from __future__ import annotations

import django_tables2 as tables
from django.template.defaultfilters import date
from django.utils.html import format_html
from django.utils.timesince import timesince

from smartaccounts.tables import PortalTable

NOWRAP = {"td": {"class": "nowrap"}}


class AlertTable(PortalTable):
    """A page of alerts; `now` (to say how long ago a due date passed) and the account's id for the links."""

    severity = tables.Column(verbose_name="Severity")
    message = tables.Column(verbose_name="Alert")
    virtual_account = tables.Column(accessor="virtual_account__name", verbose_name="Virtual Account")
    due_at = tables.Column(verbose_name="Due", attrs=NOWRAP, empty_values=())
    opened_at = tables.DateTimeColumn(format="Y-m-d H:i", verbose_name="Opened", attrs=NOWRAP)
    act = tables.TemplateColumn(
        '{% if record.product_instance.status != "removed" %}<a class="btn btn-small" '
        "href=\"{% url 'policy_instance_reporting' smart_account.pk record.product_instance_id %}\">"
        "{% if record.resolved_at %}View{% else %}Act{% endif %}</a>"
        '{% else %}<span class="muted small">Removed</span>{% endif %}',
        verbose_name="",
    )

    class Meta(PortalTable.Meta):
        attrs = {"class": "table", "data-testid": "alerts"}

    def __init__(self, *args, now, **kwargs):
        self.now = now
        super().__init__(*args, **kwargs)

    def render_severity(self, record):
        badge = SEVERITY_BADGES.get(record.severity, SEVERITY_BADGES["info"])
        if record.resolved_at:
            return format_html(
                '{}<br><span class="badge badge-muted">Resolved {}</span>', badge, date(record.resolved_at, "Y-m-d")
            )
        return badge

    def render_message(self, record):
        return format_html(
            '{}<br><span class="muted small">{} · {}</span>',
            record.message,
            record.get_kind_display(),
            record.product_instance.udi,
        )

    def render_due_at(self, record):
        due = record.due_at
        if not due:
            return "—"
        if record.resolved_at or due >= self.now:
            return date(due, "Y-m-d")
        return format_html(
            '{}<br><span class="small muted">{} ago</span>', date(due, "Y-m-d"), timesince(due, self.now)
        )


SEVERITY_BADGES = {
    "critical": format_html('<span class="badge badge-bad">Critical</span>'),
    "warning": format_html('<span class="badge badge-warn">Warning</span>'),
    "info": format_html('<span class="badge">Info</span>'),
}


class ReportingInstanceTable(PortalTable):
    """Product instances with their reporting status, soonest deadline first."""

    instance = tables.TemplateColumn(
        "<a href=\"{% url 'policy_instance_reporting' smart_account.pk record.pk %}\">"
        "{{ record.hostname|default:record.udi }}</a>"
        '{% if record.hostname %}<br><span class="muted small">{{ record.udi }}</span>{% endif %}'
        '{% if record.status == "reserved" %} <span class="badge badge-muted">Reserved</span>{% endif %}',
        verbose_name="Product instance",
    )
    virtual_account = tables.Column(accessor="virtual_account__name", verbose_name="Virtual Account")
    reporting_status = tables.TemplateColumn(
        '{% include "policy/_status_badge.html" with status=record.reporting_status %}', verbose_name="Status"
    )
    last_report_at = tables.DateTimeColumn(
        format="Y-m-d H:i", verbose_name="Last report", default="Never", attrs=NOWRAP
    )
    next_due_at = tables.DateTimeColumn(format="Y-m-d H:i", verbose_name="Next report due", attrs=NOWRAP)

    class Meta(PortalTable.Meta):
        attrs = {"class": "table", "data-testid": "reporting-instances"}
