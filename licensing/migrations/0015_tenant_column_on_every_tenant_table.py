"""Every tenant table carries `smart_account_id` (docs/scaling.md): added to the tables that reached their
account through a parent, filled from the parent, then required where the parent's is.

The hand-over's partner account and the PAK's owner already were the owning account: their columns are
renamed `smart_account_id`, the fields keep their names."""

import django.db.models.deletion
from django.db import migrations, models

# (table, its column pointing at the parent, the parent's table): the account is the parent's.
FILLED_FROM_PARENT = [
    ("licensing_registrationtoken", "virtual_account_id", "smartaccounts_virtualaccount"),
    ("licensing_productinstanceusage", "product_instance_id", "licensing_productinstance"),
    ("licensing_handoverline", "hand_over_id", "licensing_handover"),
    ("licensing_orderline", "order_id", "licensing_order"),
    ("licensing_pakline", "pak_id", "licensing_pak"),
    ("licensing_reservationline", "reservation_id", "licensing_reservation"),
]


def fill_from_parents(apps, schema_editor):
    connection = schema_editor.connection
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # The new foreign keys are deferred: check them now, so the columns can be altered after.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for table, parent_column, parent in FILLED_FROM_PARENT:
            t, p, c = quote(table), quote(parent), quote(parent_column)
            if connection.vendor == "postgresql":
                cursor.execute(f"UPDATE {t} SET smart_account_id = p.smart_account_id FROM {p} p WHERE p.id = {t}.{c}")
            else:
                cursor.execute(
                    f"UPDATE {t} SET smart_account_id = (SELECT p.smart_account_id FROM {p} p WHERE p.id = {t}.{c})"
                )


def account(null: bool, index: bool = True):
    return models.ForeignKey(
        null=null,
        blank=null,
        db_index=index,
        on_delete=django.db.models.deletion.PROTECT,
        related_name="+",
        to="smartaccounts.smartaccount",
    )


class Migration(migrations.Migration):
    dependencies = [
        ("licensing", "0014_instance_deadlines"),
        ("smartaccounts", "0005_api_clients"),
    ]

    operations = [
        migrations.AlterField(
            model_name="handover",
            name="partner_account",
            field=models.ForeignKey(
                db_column="smart_account_id",
                on_delete=django.db.models.deletion.PROTECT,
                related_name="hand_overs_out",
                to="smartaccounts.smartaccount",
            ),
        ),
        migrations.AlterField(
            model_name="pak",
            name="owner",
            field=models.ForeignKey(
                blank=True,
                db_column="smart_account_id",
                help_text="Empty: the first account that enters the number claims it.",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="paks",
                to="smartaccounts.smartaccount",
            ),
        ),
        migrations.AddField(model_name="registrationtoken", name="smart_account", field=account(null=True)),
        migrations.AddField(
            model_name="productinstanceusage", name="smart_account", field=account(null=True, index=False)
        ),
        migrations.AddField(model_name="handoverline", name="smart_account", field=account(null=True)),
        migrations.AddField(model_name="orderline", name="smart_account", field=account(null=True)),
        migrations.AddField(model_name="pakline", name="smart_account", field=account(null=True)),
        migrations.AddField(model_name="reservationline", name="smart_account", field=account(null=True)),
        migrations.RunPython(fill_from_parents, migrations.RunPython.noop, elidable=False),
        migrations.AlterField(model_name="registrationtoken", name="smart_account", field=account(null=False)),
        migrations.AlterField(
            model_name="productinstanceusage", name="smart_account", field=account(null=False, index=False)
        ),
        migrations.AlterField(model_name="handoverline", name="smart_account", field=account(null=False)),
        migrations.AlterField(model_name="reservationline", name="smart_account", field=account(null=False)),
    ]
