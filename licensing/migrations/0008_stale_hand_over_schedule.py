"""The hourly Celery beat entry that declines hand-overs pending for 30 days (editable under Periodic tasks)."""

from django.db import migrations

TASK_NAME = "Decline hand-overs pending for 30 days (hourly)"


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    hourly, _ = IntervalSchedule.objects.get_or_create(every=1, period="hours")
    PeriodicTask.objects.update_or_create(
        name=TASK_NAME,
        defaults={
            "task": "licensing.expire_stale_hand_overs",
            "interval": hourly,
            # A run not started within the hour is dropped: the next run does the same work.
            "expire_seconds": 3600,
            "enabled": True,
            "description": "Declines every partner hand-over still pending 30 days after it was made; the "
            "licenses return to the partner's holding account and both accounts are e-mailed. Idempotent.",
        },
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("licensing", "0007_reservation_request_code_used_once"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
