"""The shipped default reporting policy (the product text: a report within 90 days of first use and of
any software upgrade or feature change, then once every 365 days, for unenforced licenses; enforced and
export-controlled licenses are authorized instead and need no usage reports)."""

from django.db import migrations

DEFAULT_RULES = {
    # license class: (first report days, reporting frequency days, report on change days, ACK required)
    "unenforced_perpetual": (90, 365, 90, True),
    "unenforced_subscription": (90, 365, 90, True),
    "enforced": (0, 0, 0, False),
    "export_controlled": (0, 0, 0, False),
}


def create_default_policy(apps, schema_editor):
    Policy = apps.get_model("policy", "Policy")
    PolicyVersion = apps.get_model("policy", "PolicyVersion")
    PolicyRule = apps.get_model("policy", "PolicyRule")
    if Policy.objects.filter(is_default=True).exists():
        return
    policy, _ = Policy.objects.get_or_create(
        name="Default",
        defaults={
            "description": "Smart Licensing using Policy as shipped: report unenforced licenses within 90 days "
            "of first use and of every change, then once a year.",
            "is_default": True,
        },
    )
    if not policy.is_default:
        policy.is_default = True
        policy.save(update_fields=["is_default"])
    if policy.versions.exists():
        return
    version = PolicyVersion.objects.create(policy=policy, number=1)
    PolicyRule.objects.bulk_create(
        PolicyRule(
            version=version,
            license_class=license_class,
            first_report_days=first,
            reporting_frequency_days=every,
            report_on_change_days=on_change,
            ack_required=ack,
        )
        for license_class, (first, every, on_change, ack) in DEFAULT_RULES.items()
    )


class Migration(migrations.Migration):
    dependencies = [("policy", "0003_change_source_usage_upload_constraints")]

    operations = [migrations.RunPython(create_default_policy, migrations.RunPython.noop)]
