"""Every tenant table carries `smart_account_id`, and the pages' queries are constrained by it (docs/scaling.md).

A distributed PostgreSQL (Citus, say) spreads tables by one column and sends a query to one node when the
query names that column's value. The column here is the account: every table whose rows belong to one
Smart Account carries `smart_account_id`; the tables shared by every account are listed below as reference
tables, each with its reason. A new table of the project's apps is a tenant table until it is listed here.
"""

import re

import pytest
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext

from licensing.services import register_product_instance
from smartaccounts.tenancy import models_with_parent_account, parent_mismatches
from tests.isolation import all_routes, build_tenant

pytestmark = pytest.mark.django_db

PROJECT_APPS = ("smartaccounts", "licensing", "policy")

# Tables shared by every account (or by none): one line each on why no account owns a row.
REFERENCE_TABLES = {
    "smartaccounts_smartaccount": "the tenants themselves: their id is the value every tenant row carries",
    "smartaccounts_user": "people, who may hold roles in many accounts and sign in before choosing one",
    "smartaccounts_user_groups": "Django's user-group links (staff), not per account",
    "smartaccounts_user_user_permissions": "Django's model permissions of staff users, not per account",
    "smartaccounts_smartaccountuserobjectpermission": "roles on an account, written by django-guardian; the "
    "object id is the account id",
    "smartaccounts_smartaccountgroupobjectpermission": "as above, for groups",
    "smartaccounts_virtualaccountuserobjectpermission": "roles on a VA, written by django-guardian (which cannot "
    "fill another column); read per user across accounts at sign-in",
    "smartaccounts_virtualaccountgroupobjectpermission": "as above, for groups",
    "licensing_license": "the catalog: one entitlement for every account that buys it",
    "licensing_sku": "the catalog: what is ordered to get a license",
    "policy_policy": "reporting policies staff define; an account is assigned one (policy_accountpolicy)",
    "policy_policyversion": "the versions of a policy, shared like the policy",
    "policy_policyrule": "the rules of a policy version, shared like the policy",
    "policy_workerheartbeat": "proof that a Celery worker runs; about no account",
    "policy_deadlineevaluationrun": "the progress of one evaluation run over every account",
}

# Tenant tables whose column may be empty, and when.
NULLABLE_TENANT_COLUMN = {
    "licensing_order": "an order entered before its account is known waits on Smart Account hold",
    "licensing_orderline": "the order's account: empty while the order's is",
    "licensing_pak": "a PAK nobody has entered yet belongs to the first account that does",
    "licensing_pakline": "the PAK's account: empty until an account claims it",
    "licensing_licenselot": "nullable since the first schema; every lot written has one (in transit: the partner's)",
    "smartaccounts_event": "staff and system events (the catalog, staff approvals) name no account",
}


def project_tables() -> set[str]:
    """The project apps' tables: the models' and whatever else the database holds under their prefixes
    (tables made by hand in a migration)."""
    tables = {m._meta.db_table for label in PROJECT_APPS for m in apps.get_app_config(label).get_models()}
    tables |= {
        m._meta.db_table for m in apps.get_models(include_auto_created=True) if m._meta.app_label in PROJECT_APPS
    }
    with connection.cursor():
        existing = connection.introspection.table_names()
    return tables | {t for t in existing if t.split("_", 1)[0] in PROJECT_APPS}


def columns(table: str) -> dict[str, bool]:
    """{column: may be NULL} as the database has them."""
    with connection.cursor() as cursor:
        return {c.name: bool(c.null_ok) for c in connection.introspection.get_table_description(cursor, table)}


def tenant_tables() -> set[str]:
    return project_tables() - set(REFERENCE_TABLES)


def test_every_tenant_table_carries_the_account():
    missing = sorted(t for t in tenant_tables() if "smart_account_id" not in columns(t))
    assert not missing, (
        "These tables have no smart_account_id column: add it (filled from the parent, set by every write), "
        f"or list the table in REFERENCE_TABLES with the reason no account owns its rows: {', '.join(missing)}"
    )


def test_the_account_is_required_where_every_row_has_one():
    nullable = sorted(
        t for t in tenant_tables() - set(NULLABLE_TENANT_COLUMN) if columns(t).get("smart_account_id") is True
    )
    assert not nullable, f"smart_account_id allows NULL in {', '.join(nullable)}: make it NOT NULL or say why here"


def test_the_lists_name_existing_tables_only():
    tables = project_tables()
    stale = sorted((set(REFERENCE_TABLES) | set(NULLABLE_TENANT_COLUMN)) - tables)
    assert not stale, f"Listed but not in the database: {', '.join(stale)}"


def test_reference_tables_hold_no_account_column():
    """A reference table with an account column is a tenant table listed by mistake."""
    wrong = sorted(t for t in REFERENCE_TABLES if "smart_account_id" in columns(t))
    assert not wrong, f"{', '.join(wrong)} carry smart_account_id: they are tenant tables"


# --- The rows the services write agree with their parents -----------------------------------------


def test_rows_written_by_the_services_carry_their_parents_account():
    """Registration (token, usage), a usage report with an upgrade (ACK, change, usage), a change notice, a
    reservation, a PAK claimed by its conversion, an order assigned to an account by staff and a hand-over
    accepted: every row with a parent carries the parent's account."""
    from datetime import timedelta

    from django.utils import timezone

    from licensing.models import Order, OrderLine
    from licensing.services import (
        accept_hand_over,
        assign_order_account,
        convert_pak,
        reserve_licenses,
        transfer_to_customer,
    )
    from policy.services import ingest_usage_report, record_change_notice
    from tests.factories import make_staff
    from tests.licensing.helpers import deposit, make_license, sku_for, token_for
    from tests.licensing.workflows.helpers import enable_reservations, make_order, make_pak, make_partner, request_code
    from tests.policy.helpers import notice, report, upgrade

    tenant = build_tenant("Rows")
    lic = make_license()
    deposit(tenant.va_a, lic, 20)
    instance = register_product_instance(
        token=token_for(tenant.va_a).token, pid="C9300-48P", serial_number="FOC0001TEN", usage={lic.tag: 2}
    )
    now = timezone.now()
    ingest_usage_report(
        payload=report(instance, generated_at=now, usage={lic: 3}, events=[upgrade(now - timedelta(hours=1))]),
        source="device",
    )
    record_change_notice(
        payload=notice(instance, changes=[upgrade(now + timedelta(minutes=1), "17.12.1", "17.15.1")],
                       generated_at=now + timedelta(minutes=2))
    )  # fmt: skip
    enable_reservations(tenant.account)
    reserve_licenses(
        actor=tenant.admin, virtual_account=tenant.va_a, request_code=request_code(), reservation_type="specific",
        licenses={lic: 1},
    )  # fmt: skip
    convert_pak(actor=tenant.admin, pak=make_pak(None, [(sku_for(lic), 2)]), virtual_account=tenant.va_a)
    waiting = Order.objects.create(number="SO-TENANT-1")
    OrderLine.objects.create(order=waiting, line_number=1, sku=sku_for(lic), quantity=1)
    assert set(waiting.lines.values_list("smart_account_id", flat=True)) == {None}
    staff = make_staff("orders@operator.example.net", "licensing.change_order")
    assign_order_account(actor=staff, order=waiting, smart_account=tenant.account)
    partner = make_partner()
    [line] = make_order(partner, [(sku_for(lic), 5)]).lines.all()
    hand_over = transfer_to_customer(actor=partner.created_by, order_lines={line: 2}, customer_account=tenant.account)
    accept_hand_over(actor=tenant.admin, hand_over=hand_over, virtual_account=tenant.va_a)

    assert parent_mismatches() == {}
    assert set(waiting.lines.values_list("smart_account_id", flat=True)) == {tenant.account.pk}
    assert hand_over.lines.get().smart_account_id == partner.pk
    assert instance.changes.filter(smart_account=tenant.account).count() == instance.changes.count() >= 2
    assert instance.acknowledgements.get().smart_account_id == tenant.account.pk


def test_a_row_that_disagrees_with_its_parent_is_counted():
    from licensing.models import ProductInstanceUsage
    from tests.licensing.helpers import deposit, make_license, token_for

    tenant, other = build_tenant("Here"), build_tenant("There")
    lic = make_license()
    deposit(tenant.va_a, lic, 5)
    register_product_instance(token=token_for(tenant.va_a).token, pid="C9300-48P", serial_number="FOC0002TEN",
                              usage={lic.tag: 1})  # fmt: skip
    ProductInstanceUsage.objects.update(smart_account=other.account)
    assert parent_mismatches() == {"licensing_productinstanceusage": 1}


# --- The pages' queries name the account ---------------------------------------------------------

_TABLE_REF = re.compile(r'\b(?:FROM|JOIN)\s+"?(\w+)"?(?:\s+(?:AS\s+)?"?(\w+)"?)?', re.IGNORECASE)
_KEYWORDS = {"on", "where", "inner", "left", "outer", "join", "group", "order", "limit", "union", "cross", "using"}
_BARE_ACCOUNT = re.compile(r'(?<![.\w"])"?smart_account_id"?\s*(?:=|IN\b)', re.IGNORECASE)


def parent_tables() -> dict[str, str]:
    """{child table: parent table} of the rows that carry their parent's account."""
    return {
        m._meta.db_table: m._meta.get_field(m.account_parent).related_model._meta.db_table
        for m in models_with_parent_account()
    }


def unconstrained_tenant_tables(sql: str, tenants: set[str], parents: dict[str, str] | None = None) -> set[str]:
    """The tenant tables `sql` reads without naming their `smart_account_id`.

    A textual check, good enough for the ORM's SQL and ours. A table counts as constrained when its
    `smart_account_id` appears in the statement qualified by its name or alias (a filter, or a join on
    the account); when an unqualified `smart_account_id =` or `IN` appears and the table has no alias
    (hand-written SQL on one table); or when it is a child whose parent table (`parents`) is in the same
    statement and constrained: the child's account is its parent's (`parent_mismatches`)."""
    parents = parents or {}
    refs: dict[str, set[str]] = {}
    for table, alias in _TABLE_REF.findall(sql):
        names = refs.setdefault(table, {table})
        if alias and alias.lower() not in _KEYWORDS:
            names.add(alias)
    bare = bool(_BARE_ACCOUNT.search(sql))

    def named(table: str) -> bool:
        return any(re.search(rf'"?{re.escape(n)}"?\."?smart_account_id"?', sql) for n in refs[table]) or (
            bare and refs[table] == {table}
        )

    constrained = {t for t in refs if named(t)}
    constrained |= {t for t in refs if parents.get(t) in constrained}
    return {t for t in refs if t in tenants and t not in constrained}


def test_unconstrained_tables_are_found():
    tenants = {"licensing_productinstance", "licensing_productinstanceusage"}
    sql = (
        'SELECT * FROM "licensing_productinstance" INNER JOIN "licensing_productinstanceusage" '
        'ON ("licensing_productinstance"."id" = "licensing_productinstanceusage"."product_instance_id") '
        'WHERE "licensing_productinstance"."smart_account_id" = 1'
    )
    assert unconstrained_tenant_tables(sql, tenants) == {"licensing_productinstanceusage"}
    parents = {"licensing_productinstanceusage": "licensing_productinstance"}
    assert unconstrained_tenant_tables(sql, tenants, parents) == set()
    unfiltered = 'SELECT * FROM "licensing_productinstance" WHERE "licensing_productinstance"."id" = 1'
    assert unconstrained_tenant_tables(unfiltered, tenants, parents) == {"licensing_productinstance"}
    aliased = "SELECT 1 FROM licensing_productinstance p WHERE p.smart_account_id = 1"
    assert unconstrained_tenant_tables(aliased, tenants) == set()
    bare = "SELECT 1 FROM licensing_productinstance WHERE smart_account_id = 1"
    assert unconstrained_tenant_tables(bare, tenants) == set()


# Reads that do not name the account yet, each with its reason; the rest of the list is the work left.
ACCOUNT_NOT_NAMED = {
    "licensing_handover": "a customer's incoming hand-overs are found by customer_account_id (the partner's "
    "account owns the row): a read across accounts by design",
    "licensing_handoverline": "the lines of those incoming hand-overs, joined to them",
    "smartaccounts_apiclient": "the members list leaves out API clients' service users with an anti-join on "
    "the user (a reference table)",
}


def test_account_pages_constrain_every_tenant_table_by_the_account(client):
    """Every GET page under an account URL, as its Admin: each tenant table a query reads names the
    account's `smart_account_id`, but for the reads listed in ACCOUNT_NOT_NAMED."""
    tenant = build_tenant("Scoped")
    client.force_login(tenant.admin)
    tenants = tenant_tables() - set(ACCOUNT_NOT_NAMED)
    parents = parent_tables()
    offenders: dict[str, set[str]] = {}
    samples: dict[str, str] = {}
    pages = 0
    for route in all_routes():
        if "account_id" not in route.kwargs:
            continue
        url = tenant.url(route.name, va=tenant.va_a_child)
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(url)
        if response.status_code != 200:
            continue
        pages += 1
        for query in ctx.captured_queries:
            sql = query["sql"]
            if sql.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK", "SET ")):
                continue
            for table in unconstrained_tenant_tables(sql, tenants, parents):
                offenders.setdefault(table, set()).add(route.name)
                samples.setdefault(table, sql[:1500])
    assert pages >= 20
    assert not offenders, "Queries that do not name the account: " + "; ".join(
        f"{table} on {', '.join(sorted(names))} (e.g. {samples[table]})" for table, names in sorted(offenders.items())
    )
