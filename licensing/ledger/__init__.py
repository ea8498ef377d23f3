"""Ledger primitives: the only code that changes lots, ledger entries and balances.

Services (`licensing.services` and the workflows built on it) compose these inside one
transaction. The modules: `locks` (balance and instance locks), `lots` (deposits, takes,
transfers between VAs, expiry), `usage` (in use by product instances, reserved), `transit`
(lots of a pending hand-over), `totals` (the per-account totals and their count of short VAs),
`entries` (the ledger entry every change writes). The few statements a benchmark needs written
out for PostgreSQL live in `licensing.queries`; on every other database the readable code here runs.

The rules that keep concurrent writers correct and deadlock-free:

1. Call `lock_balances` **once per transaction, first**, with every (VA, license) pair the
   transaction will touch. It creates missing balance rows (in sorted order) and then locks
   all of them in primary-key order, the order every writer uses; then, the same way, the
   per-account totals of those licenses (`LicenseAccountTotal`), which every balance change
   moves too. (A later call for a subset of the same pairs takes no new lock and is harmless.)
   A transfer of one license between two VAs of one account moves no total (what leaves one
   VA arrives in the other), only, sometimes, the count of short VAs: it locks the balances
   alone (`totals=False`), and `move_between_vas` updates that one total row, after the
   balances, only when the count changes; an UPDATE locks the row it changes, so the order
   (balances, then totals) holds, and two transfers of different licenses never wait on each other.
2. A VA's lots of a license, and its usage-derived `in_use`, change only while its balance
   row is locked; so lots need no locks of their own. Lots in transit (no VA) belong to a
   hand-over and change only while that hand-over's row is locked.
3. Every change of a lot's quantity writes a `LedgerEntry` for it; every balance change is
   made in the same transaction as the entries or usage behind it.
4. Product instance rows are locked *before* balance rows (`lock_instances`, pk order). An
   instance's usage, status and VA change only while its row is locked, so two writers can
   never both compute a usage difference from the same stale reading. `set_instance_usage`
   and `move_instance_usage` take these locks themselves (re-taking a lock the caller already
   holds is harmless), but a service that must lock instances and then call
   `lock_balances` directly has to lock the instances first, never the other way round.

The database refuses negative lots and balances (check constraints) whatever the code does.
Usage is bounded (`licensing.limits`): a device's count of a license, and an account's in use plus
reserved of a license, checked here under the locks (so the refusal is exact, `ValidationError` with
code `instance_usage_limit` or `account_usage_limit`); the columns that add counts up are 64-bit.
"""

from .entries import BalanceKey, Portion, new_movement
from .locks import LockedBalances, lock_balances, lock_instances
from .lots import add_to_va, expire_lot, move_between_vas, take_from_va
from .totals import rebuild_account_totals
from .transit import put_in_transit, take_from_transit
from .usage import change_reserved, move_instance_usage, set_instance_usage, set_instances_usage

__all__ = [
    "BalanceKey",
    "LockedBalances",
    "Portion",
    "add_to_va",
    "change_reserved",
    "expire_lot",
    "lock_balances",
    "lock_instances",
    "move_between_vas",
    "move_instance_usage",
    "new_movement",
    "put_in_transit",
    "rebuild_account_totals",
    "set_instance_usage",
    "set_instances_usage",
    "take_from_transit",
    "take_from_va",
]
