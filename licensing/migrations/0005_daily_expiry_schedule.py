"""The daily Celery beat entry that expires term licenses (editable in the admin under Periodic tasks)."""

from django.db import migrations

TASK_NAME = "Expire term licenses (daily)"


def create_schedule(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    schedule, _ = CrontabSchedule.objects.get_or_create(
        minute="15", hour="0", day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
    )
    PeriodicTask.objects.update_or_create(
        name=TASK_NAME,
        defaults={
            "task": "licensing.expire_term_lots",
            "crontab": schedule,
            # A run not started within a day is dropped: the next day's run does the same work.
            "expire_seconds": 23 * 3600,
            "enabled": True,
            "description": "Expires term license lots past their end date as ledger entries. Idempotent.",
        },
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("licensing", "0004_rollup_and_keyset_indexes"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
