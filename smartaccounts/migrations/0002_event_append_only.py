from django.db import migrations

from smartaccounts.db import append_only


class Migration(migrations.Migration):
    dependencies = [("smartaccounts", "0001_initial")]

    operations = [append_only("smartaccounts_event")]
