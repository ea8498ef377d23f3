"""The periodic tasks of the policy app, as django-celery-beat rows (editable in the admin).

Each entry expires after about one interval, so a worker backlog never runs a stale evaluation
or a second digest for the same day.
"""

from django.db import migrations

EVALUATE = "Evaluate reporting deadlines"
DIGEST = "Overdue reporting digest"


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    hourly, _ = IntervalSchedule.objects.get_or_create(every=1, period="hours")
    PeriodicTask.objects.get_or_create(
        name=EVALUATE,
        defaults={
            "task": "policy.evaluate_reporting_deadlines",
            "interval": hourly,
            "expire_seconds": 3600,
            "description": "Recompute every product instance's next reporting deadline and status; "
            "open and resolve due-soon and overdue alerts. Idempotent.",
        },
    )
    daily, _ = CrontabSchedule.objects.get_or_create(
        minute="30", hour="6", day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
    )
    PeriodicTask.objects.get_or_create(
        name=DIGEST,
        defaults={
            "task": "policy.send_overdue_digests",
            "crontab": daily,
            "expire_seconds": 86400,
            "description": "E-mail each account's Admins the product instances that became overdue "
            "since the last digest.",
        },
    )


def remove_schedule(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=[EVALUATE, DIGEST]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("policy", "0004_default_policy"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
