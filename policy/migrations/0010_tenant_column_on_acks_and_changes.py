"""Acknowledgements and changes carry `smart_account_id`, their instance's (docs/scaling.md): added,
filled from the instance, then required."""

import django.db.models.deletion
from django.db import migrations, models

FILLED_FROM_INSTANCE = ["policy_acknowledgement", "policy_change"]


def fill_from_instances(apps, schema_editor):
    connection = schema_editor.connection
    quote = connection.ops.quote_name
    instances = quote("licensing_productinstance")
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # The new foreign keys are deferred: check them now, so the columns can be altered after.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for table in FILLED_FROM_INSTANCE:
            t = quote(table)
            if connection.vendor == "postgresql":
                cursor.execute(
                    f"UPDATE {t} SET smart_account_id = p.smart_account_id FROM {instances} p "
                    f"WHERE p.id = {t}.product_instance_id"
                )
            else:
                cursor.execute(
                    f"UPDATE {t} SET smart_account_id = "
                    f"(SELECT p.smart_account_id FROM {instances} p WHERE p.id = {t}.product_instance_id)"
                )


def account(null: bool):
    return models.ForeignKey(
        null=null,
        blank=null,
        db_index=False,
        on_delete=django.db.models.deletion.PROTECT,
        related_name="+",
        to="smartaccounts.smartaccount",
    )


class Migration(migrations.Migration):
    dependencies = [
        ("policy", "0009_device_poll"),
        ("licensing", "0015_tenant_column_on_every_tenant_table"),
    ]

    operations = [
        migrations.AddField(model_name="acknowledgement", name="smart_account", field=account(null=True)),
        migrations.AddField(model_name="change", name="smart_account", field=account(null=True)),
        migrations.RunPython(fill_from_instances, migrations.RunPython.noop, elidable=False),
        migrations.AlterField(model_name="acknowledgement", name="smart_account", field=account(null=False)),
        migrations.AlterField(model_name="change", name="smart_account", field=account(null=False)),
    ]
