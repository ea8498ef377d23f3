"""Statements written out for speed, each named after the rule it computes. Their reference is the ORM
code in `smartaccounts.access`, which runs on SQLite; on PostgreSQL these run, and a differential test
(tests/smartaccounts/test_access.py, marker `postgres`) runs both on the same generated data.
Table, column and role names come from the models.

- `roles_reaching`: for each VA asked, the user's role on its account and the strongest role reaching
  it through a live VA (`access.with_va_roles`). Every service checks rights with it on every call (a
  transfer on both of its VAs). On the benchmark's 2,000-VA tree, two VAs' roles take 0.4-0.6 ms
  written out against 3-6 ms through the query compiler, which costs several times running it.
"""

from __future__ import annotations

from functools import cache

from django.contrib.auth.models import Permission
from django.db import connection

from .models import Role, SmartAccountUserObjectPermission, VirtualAccount, VirtualAccountUserObjectPermission

__all__ = ["roles_reaching"]


def _column(model, field: str) -> str:
    return connection.ops.quote_name(model._meta.get_field(field).column)


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


@cache
def _roles_reaching_sql() -> str:
    va, perm = VirtualAccount, Permission
    on_account, on_va = SmartAccountUserObjectPermission, VirtualAccountUserObjectPermission
    pk, codename, account = _column(va, "id"), _column(perm, "codename"), _column(va, "smart_account")
    tree_id, lft, rght = _column(va, "tree_id"), _column(va, "lft"), _column(va, "rght")
    rank = " ".join(f"WHEN '{role.codename}' THEN {role.rank}" for role in Role)
    return (
        f"SELECT v.{pk}, "
        f"(SELECT p.{codename} FROM {_table(on_account)} g "
        f"JOIN {_table(perm)} p ON p.{_column(perm, 'id')} = g.{_column(on_account, 'permission')} "
        f"WHERE g.{_column(on_account, 'user')} = %s AND g.{_column(on_account, 'content_object')} = v.{account} "
        "LIMIT 1), "
        f"(SELECT p.{codename} FROM {_table(on_va)} g "
        f"JOIN {_table(va)} a ON a.{pk} = g.{_column(on_va, 'content_object')} "
        f"JOIN {_table(perm)} p ON p.{_column(perm, 'id')} = g.{_column(on_va, 'permission')} "
        f"WHERE g.{_column(on_va, 'user')} = %s AND a.{_column(va, 'deleted_at')} IS NULL "
        f"AND a.{account} = v.{account} AND a.{tree_id} = v.{tree_id} AND a.{lft} <= v.{lft} AND a.{rght} >= v.{rght} "
        f"ORDER BY CASE p.{codename} {rank} ELSE 0 END DESC LIMIT 1) "
        f"FROM {_table(va)} v WHERE v.{pk} = ANY(%s)"
    )


def roles_reaching(user_id: int, virtual_account_ids: list[int]) -> list[tuple[int, str | None, str | None]]:
    """(VA id, codename of the role on its account, codename of the strongest role through a live VA whose
    range holds it) for each VA asked. PostgreSQL only (`= ANY` of an array)."""
    with connection.cursor() as cursor:
        cursor.execute(_roles_reaching_sql(), [user_id, user_id, list(virtual_account_ids)])
        return cursor.fetchall()
