"""Usage reports and measurements carry their account (`smart_account_id`, a tenant column) and
measurements their report's `received_at` (the month both are kept under); the tables that point at a
report hold its id without a database foreign key, so that the reports table can be partitioned."""

import django.db.models.deletion
from django.db import migrations, models

# One statement each, the same on SQLite and PostgreSQL.
BACKFILL = [
    "UPDATE policy_usagereport SET smart_account_id = (SELECT i.smart_account_id FROM licensing_productinstance i "
    "WHERE i.id = policy_usagereport.product_instance_id)",
    "UPDATE policy_usagemeasurement SET smart_account_id = (SELECT r.smart_account_id FROM policy_usagereport r "
    "WHERE r.id = policy_usagemeasurement.report_id), received_at = (SELECT r.received_at FROM policy_usagereport r "
    "WHERE r.id = policy_usagemeasurement.report_id)",
]


def backfill(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        for statement in BACKFILL:
            cursor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("licensing", "0001_initial"),
        ("smartaccounts", "0001_initial"),
        ("policy", "0010_tenant_column_on_acks_and_changes"),
    ]

    operations = [
        migrations.AlterField(
            model_name="usagemeasurement",
            name="report",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="measurements",
                to="policy.usagereport",
            ),
        ),
        migrations.AlterField(
            model_name="change",
            name="report",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="changes",
                to="policy.usagereport",
            ),
        ),
        migrations.AddField(
            model_name="usagereport",
            name="smart_account",
            field=models.ForeignKey(
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="smartaccounts.smartaccount",
            ),
        ),
        migrations.AddField(
            model_name="usagemeasurement",
            name="smart_account",
            field=models.ForeignKey(
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="smartaccounts.smartaccount",
            ),
        ),
        migrations.AddField(
            model_name="usagemeasurement",
            name="received_at",
            field=models.DateTimeField(null=True, help_text="Its report's `received_at` (the month it is kept under)."),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop, elidable=False),
        migrations.AlterField(
            model_name="usagereport",
            name="smart_account",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="smartaccounts.smartaccount",
            ),
        ),
        migrations.AlterField(
            model_name="usagemeasurement",
            name="smart_account",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="smartaccounts.smartaccount",
            ),
        ),
        migrations.AlterField(
            model_name="usagemeasurement",
            name="received_at",
            field=models.DateTimeField(help_text="Its report's `received_at` (the month it is kept under)."),
        ),
        migrations.AddIndex(
            model_name="usagereport",
            index=models.Index(fields=["smart_account", "-generated_at", "-id"], name="report_account_time"),
        ),
    ]
