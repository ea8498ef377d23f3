"""Tables of the accounts pages (django-tables2), and the base every table of the portal uses."""

from __future__ import annotations

import django_tables2 as tables
from django.utils.safestring import mark_safe


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


MEMBER_PERSON = (
    "<a href=\"{% url 'account_member' smart_account.pk record.user.pk %}\">{{ record.user.email }}</a>"
    '{% if record.user.get_full_name %}<br><span class="muted small">{{ record.user.get_full_name }}</span>{% endif %}'
)
# Each role with its own Remove (the role's scope goes with the form): one row per person, every role in it.
MEMBER_ROLES = (
    '<ul class="role-list">{% for m in record.roles %}<li>'
    '<form method="post" action="{% url \'account_member_remove\' smart_account.pk record.user.pk %}" '
    'class="inline-form" data-confirm="Remove {{ record.user.email }}\'s {{ m.role.label }} role on '
    '{{ m.scope_label }}?">{% csrf_token %}<input type="hidden" name="scope" '
    'value="{% if m.virtual_account %}{{ m.virtual_account.pk }}{% endif %}">'
    "<span class=\"badge{% if m.role == 'admin' %} badge-warn{% endif %}\">{{ m.role.label }}</span> "
    "on {{ m.scope_label }} "
    '<button class="btn btn-small btn-danger" type="submit">Remove</button></form></li>{% endfor %}</ul>'
)


class MemberTable(PortalTable):
    """The Users page: one row per person (`{"user": ..., "roles": [Membership, ...]}`), their roles listed in
    one cell. The rows are the roles the viewer manages (`selectors.memberships_for`), so a VA Admin sees and
    removes only those."""

    person = tables.TemplateColumn(MEMBER_PERSON, verbose_name="Person")
    roles = tables.TemplateColumn(MEMBER_ROLES, verbose_name="Roles")
    # A visible header cell over the actions, its text for screen readers only.
    actions = tables.TemplateColumn(
        '<a class="btn btn-small" href="{% url \'account_member\' smart_account.pk record.user.pk %}">Change</a>',
        verbose_name=mark_safe('<span class="visually-hidden">Actions</span>'),
        attrs={"td": {"class": "nowrap"}},
    )

    class Meta(PortalTable.Meta):
        attrs = {"class": "table", "data-testid": "members"}
        empty_text = "Nobody yet."


class ApiClientTable(PortalTable):
    """The *API clients* page: live clients first, then revoked ones."""

    name = tables.Column(verbose_name="Name")
    client_id = tables.TemplateColumn(
        '<code class="mono">{{ record.application.client_id }}</code>', verbose_name="Client id"
    )
    role = tables.Column(accessor="get_role_display", verbose_name="Role")
    scope = tables.Column(accessor="scope_label", verbose_name="On")
    created_at = tables.DateTimeColumn(format="Y-m-d H:i", verbose_name="Created", attrs={"td": {"class": "nowrap"}})
    last_used_at = tables.DateTimeColumn(
        format="Y-m-d H:i", verbose_name="Last used", default="never", attrs={"td": {"class": "nowrap"}}
    )
    status = tables.TemplateColumn(
        '{% if record.revoked_at %}<span class="badge badge-bad">Revoked {{ record.revoked_at|date:"Y-m-d" }}</span>'
        '{% else %}<span class="badge badge-ok">Active</span>{% endif %}',
        verbose_name="Status",
    )
    actions = tables.TemplateColumn(
        "{% if not record.revoked_at %}"
        '<form method="post" action="{% url \'api_client_revoke\' smart_account.pk record.pk %}" class="inline-form" '
        'data-confirm="Revoke the API client {{ record.name }}? Its tokens stop working at once.">{% csrf_token %}'
        '<button class="btn btn-small btn-danger" type="submit">Revoke</button></form>{% endif %}',
        verbose_name=mark_safe('<span class="visually-hidden">Actions</span>'),
        attrs={"td": {"class": "nowrap"}},
    )

    class Meta(PortalTable.Meta):
        attrs = {"class": "table", "data-testid": "api-clients"}
        empty_text = "No API clients yet."
