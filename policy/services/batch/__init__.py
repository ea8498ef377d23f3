"""The ingestion of usage reports, set-based: a batch of reports in one transaction, in a fixed
number of round trips whatever its size (one report is a batch of one).

1. Lock the instances the reports name, in primary-key order (the ledger's rule 4: instance rows
   before balance rows), and read them with their account and VA: one statement.
2. Read everything the rules need, after the locks: the reports already received under the batch's
   report ids, the catalog licenses of its tags, the instances' usage, their pending changes, the
   policy in force for each account and what the accounts have in use and reserved of the licenses
   the reports name (a report that would pass `licensing.limits.MAX_ACCOUNT_USAGE` is refused
   alone); on PostgreSQL also the ids the new ACKs and reports will take. One statement (UNION ALL),
   prepared once per connection on PostgreSQL (`policy.prepared`), as is the lock.
3. Decide each report in order, in Python, exactly as one report at a time would: refused (with
   its reason), a replay (the same ACK again), or accepted. Later reports of the same instance see
   what the earlier ones did (usage, last report, pending changes, software version).
4. Write: the usage changes through the ledger (`set_instances_usage`: summed per balance, locked in
   the standard order), then the ACKs, reports, measurements, changes, instance updates, alerts and
   events, each table with one statement, all in one round trip on PostgreSQL.

Nothing of a refused report is written. See README (usage reports, batches) for what a batch
changes compared with the same reports one at a time (one `now`, alerts of the final state).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError

from .decide import check_signature, decide
from .read import lock_instances, read
from .state import Accepted, BatchState, Replay
from .write import write

__all__ = ["Accepted", "Batch", "Replay", "check_signature"]


class Batch(BatchState):
    """One attempt at ingesting `reports` ([(index, ParsedReport)]) inside the caller's transaction."""

    def run(self) -> dict[int, Accepted | Replay | ValidationError]:
        if not self.reports:
            return {}
        lock_instances(self)
        read(self)
        outcomes: dict[int, Accepted | Replay | ValidationError] = {}
        for index, report in self.reports:
            try:
                outcomes[index] = decide(self, index, report)
            except ValidationError as error:
                outcomes[index] = error
        write(self)
        return outcomes
