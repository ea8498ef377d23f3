"""Every tenant table carries `smart_account_id` (docs/scaling.md): the rows that belong to an account
through a parent (a usage row through its instance, an order line through its order) carry the parent's
account too, so that every query can be constrained by the account and a distributed PostgreSQL can keep
an account's rows together.

`AccountFromParent` is the model mixin of those rows: saving one takes the parent's account (when the
parent is loaded, or the row has none).
Bulk writes (COPY, `bulk_create`, the ingestion's statements) name the account themselves.
`parent_mismatches()` counts the rows whose account differs from their parent's; a test checks it after
the services wrote.
"""

from __future__ import annotations

from typing import ClassVar

from django.apps import apps
from django.db import models
from django.db.models import F, Q


class AccountFromParent(models.Model):
    """A row whose `smart_account` is its parent's: `account_parent` names the foreign key to the parent and
    `parent_account` the parent's field holding the account."""

    account_parent: ClassVar[str]
    parent_account: ClassVar[str] = "smart_account"

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        # The parent's account whenever the parent is at hand (a form saving a line after its order's
        # account changed must not write the old one back); loaded only when the row has none.
        if self.smart_account_id is None or self._meta.get_field(self.account_parent).is_cached(self):
            parent = getattr(self, self.account_parent)
            self.smart_account_id = getattr(parent, f"{self.parent_account}_id")
            fields = kwargs.get("update_fields")
            if fields is not None and "smart_account" not in fields:
                kwargs["update_fields"] = [*fields, "smart_account"]
        super().save(*args, **kwargs)


def models_with_parent_account() -> list[type[AccountFromParent]]:
    return [m for m in apps.get_models() if issubclass(m, AccountFromParent)]


def parent_mismatches() -> dict[str, int]:
    """{table: rows whose account is not their parent's} for every table with a parent's account (NULL on one
    side only counts as a difference); empty when every row agrees."""
    found = {}
    for model in models_with_parent_account():
        parents = f"{model.account_parent}__{model.parent_account}"
        differs = (
            Q(smart_account__isnull=True, **{f"{parents}__isnull": False})
            | Q(smart_account__isnull=False, **{f"{parents}__isnull": True})
            | (~Q(smart_account=F(parents)) & Q(smart_account__isnull=False, **{f"{parents}__isnull": False}))
        )
        count = model.objects.filter(differs).count()
        if count:
            found[model._meta.db_table] = count
    return found
