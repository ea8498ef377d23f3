"""On PostgreSQL, usage reports and measurements partitioned by month of `received_at` (`policy.partitions`),
and the beat task that creates the partitions ahead. Other databases keep plain tables."""

from django.db import migrations

ENSURE = "Create usage partitions ahead"


def partition(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    from policy.partitions import TABLES, convert_table

    with schema_editor.connection.cursor() as cursor:
        for table in TABLES:
            convert_table(cursor, table)


def create_schedule(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    daily, _ = CrontabSchedule.objects.get_or_create(
        minute="15", hour="3", day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
    )
    PeriodicTask.objects.get_or_create(
        name=ENSURE,
        defaults={
            "task": "policy.ensure_usage_partitions",
            "crontab": daily,
            "expire_seconds": 86400,
            "description": "Create the month partitions of usage reports and measurements for this month and "
            "the next three (PostgreSQL). Idempotent.",
        },
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=ENSURE).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("policy", "0011_usage_tenant_and_partition_key"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.RunPython(partition, elidable=False),
        migrations.RunPython(create_schedule, remove_schedule),
    ]
