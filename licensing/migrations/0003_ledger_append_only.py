from django.db import migrations

from smartaccounts.db import append_only


class Migration(migrations.Migration):
    dependencies = [("licensing", "0002_initial")]

    operations = [append_only("licensing_ledgerentry")]
