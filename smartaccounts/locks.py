"""Serialising writes that django-mptt and the ledger cannot make safe on their own.

On PostgreSQL these are transaction-scoped advisory locks: held until COMMIT or ROLLBACK,
so they must be taken inside `transaction.atomic()`. SQLite allows one writer at a time
(the settings open every transaction IMMEDIATE), so there is nothing more to do there.
"""

from django.db import connection

# First key of the two-key advisory lock space: which kind of thing is locked.
ACCOUNT_TREE_LOCK = 1001  # second key: the Smart Account id
NEW_TREE_LOCK = (1002, 0)  # allocating a new MPTT tree id (any account)


def advisory_xact_lock(key: tuple[int, int]) -> None:
    if connection.vendor != "postgresql":
        return
    if not connection.in_atomic_block:
        raise RuntimeError("Advisory transaction locks must be taken inside transaction.atomic().")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [int(key[0]), int(key[1])])


def lock_account_tree(smart_account_id: int) -> None:
    """Serialise every Virtual Account tree write of one Smart Account until the transaction ends."""
    advisory_xact_lock((ACCOUNT_TREE_LOCK, smart_account_id))
