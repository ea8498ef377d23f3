"""Tables of the licensing list pages (django-tables2). Each lists what its page's selector and FilterSet
return, in their order; `smartaccounts.pagination` pages them. Links name the page's account
(`smart_account` of the template context)."""

from __future__ import annotations

import django_tables2 as tables

from smartaccounts.tables import PortalTable

NUM = {"th": {"class": "num"}, "td": {"class": "num"}}
NOWRAP = {"td": {"class": "nowrap"}}
# Columns that collapse on a phone's width (static/css/portal.css).
OPTIONAL = {"th": {"class": "col-opt"}, "td": {"class": "col-opt"}}
SMALL_NOWRAP = {"td": {"class": "nowrap small"}}


class OrderTable(PortalTable):
    number = tables.TemplateColumn(
        "<a href=\"{% url 'order_detail' smart_account.pk record.pk %}\">{{ record.number }}</a>",
        verbose_name="Sales order",
    )
    ordered_by = tables.Column(verbose_name="Ordered by", default="—")
    end_customer = tables.Column(verbose_name="End customer", default="—")
    virtual_account = tables.TemplateColumn(
        '{{ record.virtual_account.name|default:"Default" }}', verbose_name="Virtual Account"
    )
    line_count = tables.Column(verbose_name="Lines", attrs=NUM)
    status = tables.TemplateColumn(
        '{% if record.status == "deposited" %}<span class="badge badge-ok">Deposited</span>'
        '{% elif record.status == "on_hold" %}<span class="badge badge-warn">Smart Account hold</span>'
        '{% else %}<span class="badge">{{ record.get_status_display }}</span>{% endif %}',
        verbose_name="Status",
    )
    deposited_at = tables.TemplateColumn(
        '{{ record.deposited_at|date:"Y-m-d"|default:"—" }}', verbose_name="Deposited", attrs=NOWRAP
    )

    class Meta(PortalTable.Meta):
        attrs = {"class": "table", "data-testid": "orders-table"}
        empty_text = "No orders."


class PakTable(PortalTable):
    number = tables.TemplateColumn(
        "<a href=\"{% url 'pak_convert' smart_account.pk record.pk %}\">{{ record.number }}</a>",
        verbose_name="PAK",
        attrs={"td": {"class": "mono"}},
    )
    lines = tables.TemplateColumn(
        '{% for line in record.lines.all %}<span class="mono">{{ line.sku.code }}</span> × {{ line.quantity }}'
        "{% if not forloop.last %}<br>{% endif %}{% endfor %}",
        verbose_name="Lines",
        attrs={"td": {"class": "small"}},
    )
    units = tables.Column(verbose_name="Units", attrs=NUM)
    converted_units = tables.Column(verbose_name="Converted", attrs=NUM)
    status = tables.TemplateColumn(
        '{% if record.converted_units == record.units %}<span class="badge badge-ok">Converted</span>'
        '{% elif record.converted_units %}<span class="badge badge-warn">Partly converted</span>'
        '{% else %}<span class="badge">Not converted</span>{% endif %}',
        verbose_name="Status",
    )
    convert = tables.TemplateColumn(
        '{% if record.converted_units < record.units %}<a class="btn btn-small" '
        "href=\"{% url 'pak_convert' smart_account.pk record.pk %}\">Convert</a>{% endif %}",
        verbose_name="",
    )

    class Meta(PortalTable.Meta):
        empty_text = "No PAKs."


HAND_OVER_STATUS = '{% include "licensing/handover/_status.html" with hand_over=record %}'


class OutgoingHandOverTable(PortalTable):
    pk = tables.TemplateColumn(
        "<a href=\"{% url 'hand_over_outgoing_detail' smart_account.pk record.pk %}\">#{{ record.pk }}</a>",
        verbose_name="Hand-over",
    )
    customer_name = tables.Column(verbose_name="Customer")
    created_at = tables.TemplateColumn(
        '{{ record.created_at|date:"Y-m-d H:i" }}<br><span class="muted small">{{ record.created_by.email }}</span>',
        verbose_name="Made",
        attrs=NOWRAP,
    )
    line_count = tables.Column(verbose_name="Lines", attrs=NUM)
    total = tables.Column(verbose_name="Licenses", attrs=NUM)
    status = tables.TemplateColumn(HAND_OVER_STATUS, verbose_name="Status")

    class Meta(PortalTable.Meta):
        empty_text = "No hand-overs yet."


class PendingHandOverTable(PortalTable):
    pk = tables.TemplateColumn(
        "<a href=\"{% url 'hand_over_incoming_detail' smart_account.pk record.pk %}\">#{{ record.pk }}</a>",
        verbose_name="Hand-over",
    )
    partner_name = tables.Column(verbose_name="From")
    created_at = tables.DateTimeColumn(format="Y-m-d H:i", verbose_name="Received", attrs=NOWRAP)
    line_count = tables.Column(verbose_name="Lines", attrs=NUM)
    total = tables.Column(verbose_name="Licenses", attrs=NUM)
    review = tables.TemplateColumn(
        '<a class="btn btn-small btn-primary" '
        "href=\"{% url 'hand_over_incoming_detail' smart_account.pk record.pk %}\">Review</a>",
        verbose_name="",
    )


class IncomingHandOverTable(PortalTable):
    """The history of hand-overs to a customer; `visible_va_ids` (template context): the VAs whose names
    the reader may see."""

    pk = tables.TemplateColumn(
        "<a href=\"{% url 'hand_over_incoming_detail' smart_account.pk record.pk %}\">#{{ record.pk }}</a>",
        verbose_name="Hand-over",
    )
    partner_name = tables.Column(verbose_name="From")
    created_at = tables.DateTimeColumn(format="Y-m-d", verbose_name="Received", attrs=NOWRAP)
    total = tables.Column(verbose_name="Licenses", attrs=NUM)
    status = tables.TemplateColumn(HAND_OVER_STATUS, verbose_name="Status")
    virtual_account = tables.TemplateColumn(
        "{% if record.virtual_account_id in visible_va_ids %}{{ record.virtual_account.name }}"
        '{% elif record.virtual_account_id %}<span class="muted">another Virtual Account</span>{% else %}—{% endif %}',
        verbose_name="Into",
    )

    class Meta(PortalTable.Meta):
        empty_text = "No earlier hand-overs."


class ReservationTable(PortalTable):
    device = tables.TemplateColumn(
        '<a class="mono" href="{% url \'reservation_detail\' smart_account.pk record.pk %}">'
        "{{ record.product_instance.pid }} {{ record.product_instance.serial_number }}</a>",
        verbose_name="Device",
    )
    virtual_account = tables.Column(accessor="virtual_account__name", verbose_name="Virtual Account")
    reservation_type = tables.Column(verbose_name="Type")
    total = tables.TemplateColumn(
        '{{ record.total }} <span class="muted small">({{ record.license_count }} '
        "license{{ record.license_count|pluralize }})</span>",
        verbose_name="Licenses",
        attrs=NUM,
    )
    created_at = tables.TemplateColumn(
        '{{ record.created_at|date:"Y-m-d" }}<br><span class="muted small">{{ record.created_by.email }}</span>',
        verbose_name="Reserved",
        attrs=NOWRAP,
    )
    status = tables.TemplateColumn(
        '{% include "licensing/reservations/_status.html" with reservation=record %}', verbose_name="Status"
    )

    class Meta(PortalTable.Meta):
        empty_text = "No reservations."


def _is_new(record, table) -> bool:
    return record.pk == table.created_id


class TokenTable(PortalTable):
    """A VA's registration tokens; `created_id`: the token just created, highlighted. Only people who may
    operate (`can_operate` in the template context) see a token whole, to copy it, and revoke it."""

    token = tables.TemplateColumn(
        '{% if can_operate and record.status == "Active" %}<div class="copy-field"><input type="text" '
        'id="token-{{ record.pk }}" value="{{ record.token }}" readonly aria-label="Token" style="min-width: 14rem">'
        '<button type="button" class="btn btn-small" data-copy="#token-{{ record.pk }}">Copy</button></div>'
        '{% else %}<span class="mono muted">{{ record.token|slice:":6" }}…</span>{% endif %}',
        verbose_name="Token",
    )
    description = tables.TemplateColumn(
        '{{ record.description|default:"—" }}{% if record.export_controlled_allowed %}<div><span class="badge '
        'badge-muted">Export-controlled allowed</span></div>{% endif %}<div class="muted small">by '
        '{{ record.created_by.email }}, {{ record.created_at|date:"Y-m-d" }}</div>',
        verbose_name="Description",
        attrs=OPTIONAL,
    )
    expires_at = tables.DateTimeColumn(
        format="Y-m-d", verbose_name="Expires", attrs={"th": {"class": "col-opt"}, "td": {"class": "nowrap col-opt"}}
    )
    uses = tables.TemplateColumn(
        "{{ record.uses }}{% if record.max_uses %} / {{ record.max_uses }}{% endif %}",
        verbose_name="Uses",
        attrs={"th": {"class": "num col-opt"}, "td": {"class": "num col-opt"}},
    )
    status = tables.TemplateColumn(
        '{% if record.status == "Active" %}<span class="badge badge-ok">Active</span>'
        '{% elif record.status == "Revoked" %}<span class="badge badge-bad">Revoked</span>'
        '{% else %}<span class="badge badge-muted">{{ record.status }}</span>{% endif %}',
        verbose_name="Status",
        orderable=False,
    )
    revoke = tables.TemplateColumn(
        '{% if can_operate and not record.is_revoked %}<form method="post" action="{% url \'token_revoke\' '
        'smart_account.pk virtual_account.pk record.pk %}" data-confirm="Revoke this token? Devices can no longer '
        'register with it.">{% csrf_token %}<button class="btn btn-small btn-danger" type="submit">Revoke</button>'
        "</form>{% endif %}",
        verbose_name="",
    )

    class Meta(PortalTable.Meta):
        attrs = {"class": "table", "data-testid": "tokens-table"}
        row_attrs = {
            "style": lambda record, table: "background: var(--brand-soft)" if _is_new(record, table) else None,
            "data-testid": lambda record, table: "new-token" if _is_new(record, table) else None,
        }

    def __init__(self, *args, created_id: int | None = None, **kwargs):
        self.created_id = created_id
        super().__init__(*args, **kwargs)
