"""SQL kept beside its reference: each optimised statement that stays in the code, timed against its
readable Python/ORM reference on the same input of the generated estate.

A statement stays written out only where a benchmark needs it (STYLE.md, "Fast SQL without a second
copy of the rule"); this phase is the benchmark row that says why. Each pair is registered below with
`register`: the rule, the module the statement lives in, the target it serves (a key of
`bench.report.targets`), how to build its input from the estate, and the two callables. A pair whose
code is not in this tree (`requires`: "module:attribute" names) is left out, so an entry can be
written before the code it measures lands.

The two sides are called alternately (which goes first alternates too), after warm-up calls, inside
one transaction that is rolled back at the end; `isolate=True` rolls each call back to a savepoint of
its own (outside the timed part) so every call meets the same rows. Where both sides return what they
computed, `same` turns each result into a comparable value and the row says whether they agreed.
"""

from __future__ import annotations

import importlib
import statistics
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from unittest import mock

FULL_REPETITIONS = 200
SMOKE_REPETITIONS = 5
WARM_UP = 2


@dataclass(frozen=True)
class Context:
    """What a pair may build its input from: the estate's large account and its people."""

    large_account_id: int
    admin_email: str
    va_user_email: str
    va_user_va_id: int
    smoke: bool = False


@dataclass(frozen=True)
class Pair:
    rule: str  # the rule and the input, e.g. "`roles_reaching`: region User, two VAs"
    where: str  # the module holding the statement
    target: str  # the key of the target it serves (`bench.report.targets`)
    setup: Callable[[Context], Any]  # the input, built once (inside the rolled-back transaction)
    reference: Callable[[Any], Any]
    sql: Callable[[Any], Any]
    arguments: Callable[[Any], Any] | None = None  # per call, untimed: the input of one call (default: setup's)
    same: Callable[[Any], Any] | None = None  # a result made comparable; None: results are not compared
    isolate: bool = False
    repetitions: int = FULL_REPETITIONS  # of a full run; a smoke run makes at most SMOKE_REPETITIONS
    requires: tuple[str, ...] = field(default=())


PAIRS: list[Pair] = []


def register(**kwargs) -> Pair:
    pair = Pair(**kwargs)
    PAIRS.append(pair)
    return pair


def _present(name: str) -> bool:
    module, _, attribute = name.partition(":")
    try:
        found = importlib.import_module(module)
    except ImportError:
        return False
    return not attribute or hasattr(found, attribute)


def registered() -> list[Pair]:
    """The pairs whose code is in this tree."""
    return [pair for pair in PAIRS if all(_present(name) for name in pair.requires)]


# --- measuring ---------------------------------------------------------------------------------------------


@contextmanager
def _rolled_back():
    from django.db import transaction

    with transaction.atomic():
        yield
        transaction.set_rollback(True)


def _call(pair: Pair, function: Callable[[Any], Any], case: Any) -> tuple[float, Any]:
    """One call: its milliseconds and its result (rolled back to a savepoint when the pair isolates)."""
    with _rolled_back() if pair.isolate else _nothing():
        argument = pair.arguments(case) if pair.arguments else case
        start = time.perf_counter()
        result = function(argument)
        elapsed = (time.perf_counter() - start) * 1000
        return elapsed, (pair.same(result) if pair.same else None)


@contextmanager
def _nothing():
    yield


def measure(pair: Pair, context: Context, repetitions: int) -> dict:
    """The row of one pair: both sides' p50 over `repetitions` calls each, alternating."""
    timings: dict[str, list[float]] = {"reference": [], "sql": []}
    agreed = True if pair.same else None
    with _rolled_back():
        case = pair.setup(context)
        for n in range(WARM_UP + repetitions):
            sides = ("reference", "sql") if n % 2 == 0 else ("sql", "reference")
            results = {}
            for side in sides:
                ms, results[side] = _call(pair, getattr(pair, side), case)
                if n >= WARM_UP:
                    timings[side].append(ms)
            if pair.same and results["reference"] != results["sql"]:
                agreed = False
    reference, sql = (round(statistics.median(timings[side]), 3) for side in ("reference", "sql"))
    return {
        "rule": pair.rule,
        "where": pair.where,
        "target": pair.target,
        "reference_p50_ms": reference,
        "sql_p50_ms": sql,
        "speedup": round(reference / sql, 1) if sql else None,
        "repetitions": repetitions,
        "same_results": agreed,
    }


def run(context: Context, pairs: list[Pair] | None = None) -> list[dict]:
    """A row per registered pair (or per pair of `pairs`)."""
    rows = []
    for pair in registered() if pairs is None else pairs:
        repetitions = min(pair.repetitions, SMOKE_REPETITIONS) if context.smoke else pair.repetitions
        rows.append(measure(pair, context, repetitions))
    return rows


# --- smartaccounts ---------------------------------------------------------------------------------------


def _two_vas_of(virtual_account_id: int) -> list:
    """A VA and the last VA of its subtree (a transfer inside a region), or the VA twice in a leaf."""
    from smartaccounts.access import in_subtree_of
    from smartaccounts.models import VirtualAccount

    va = VirtualAccount.objects.get(pk=virtual_account_id)
    below = VirtualAccount.objects.filter(in_subtree_of(va), deleted_at__isnull=True).exclude(pk=va.pk)
    return [va, below.order_by("-lft").first() or va]


def _roles_case(email: str) -> Callable[[Context], tuple]:
    def setup(context: Context) -> tuple:
        from smartaccounts.models import User

        user = User.objects.get(email=getattr(context, email))
        return user, [va.pk for va in _two_vas_of(context.va_user_va_id)]

    return setup


def _roles_reference(case: tuple) -> list:
    from smartaccounts import access

    user, ids = case
    return access.roles_reaching(user, ids)


def _roles_sql(case: tuple) -> list:
    from smartaccounts import queries

    user, ids = case
    return queries.roles_reaching(user.pk, ids)


for _who, _email in (("VA-scoped region User", "va_user_email"), ("account Admin", "admin_email")):
    register(
        rule=f"`roles_reaching`: the {_who}, two VAs",
        where="smartaccounts.queries",
        target="transfers",  # every service's rights check; a transfer asks for both of its VAs
        setup=_roles_case(_email),
        reference=_roles_reference,
        sql=_roles_sql,
        same=sorted,
        requires=("smartaccounts.queries:roles_reaching", "smartaccounts.access:roles_reaching"),
    )


# --- policy: registered once policy.queries holds the statements and policy.deadlines has its switch ------

_POLICY_INSTANCES = 1000


def _switched(target: str, value: bool, call: Callable[[], Any]) -> Any:
    """`call()` with the vendor switch `target` ("module.function") answering `value`."""
    with mock.patch(target, lambda: value):
        return call()


def _refresh_case(context: Context) -> dict:
    from django.utils import timezone

    from licensing.models import ProductInstance

    ids = list(
        ProductInstance.objects.filter(smart_account_id=context.large_account_id)
        .exclude(status=ProductInstance.Status.REMOVED)
        .order_by("pk")
        .values_list("pk", flat=True)[:_POLICY_INSTANCES]
    )
    # Far enough on that statuses move and alerts open, so both sides write.
    return {"instance_ids": ids, "now": timezone.now() + timedelta(days=45)}


def _refresh(set_based: bool) -> Callable[[dict], dict]:
    def call(case: dict) -> dict:
        from policy import deadlines

        return _switched(
            "policy.deadlines._set_based", set_based, lambda: deadlines.refresh_reporting_deadlines(**case)
        )

    return call


register(
    rule=f"deadline evaluation of {_POLICY_INSTANCES:,} instances, 45 days on (`refresh_reporting_deadlines`)",
    where="policy.queries",
    target="evaluation",
    setup=_refresh_case,
    reference=_refresh(False),
    sql=_refresh(True),
    same=lambda result: sorted(result.items()),
    isolate=True,
    repetitions=20,
    requires=(
        "policy.queries:evaluate_deadlines_statement",
        "policy.deadlines:_set_based",
        "policy.deadlines:refresh_reporting_deadlines",
    ),
)


def _udis_case(context: Context) -> list[tuple[str, str]]:
    from licensing.models import ProductInstance

    return list(
        ProductInstance.objects.filter(smart_account_id=context.large_account_id)
        .exclude(status=ProductInstance.Status.REMOVED)
        .order_by("pk")
        .values_list("pid", "serial_number")[:_POLICY_INSTANCES]
    )


def _lock_live_instances(module: str) -> Callable[[list], list]:
    def call(udis: list) -> list:
        return importlib.import_module(module).lock_live_instances(udis)

    return call


register(
    rule=f"`lock_live_instances`: a batch's {_POLICY_INSTANCES:,} UDIs",
    where="policy.queries",
    target="ingest-batch",
    setup=_udis_case,
    reference=_lock_live_instances("policy.rules"),
    sql=_lock_live_instances("policy.queries"),
    same=lambda instances: sorted(i.pk for i in instances),
    isolate=True,
    repetitions=50,
    requires=("policy.queries:lock_live_instances", "policy.rules:lock_live_instances"),
)


# --- licensing: registered once the ledger is a package with its statements in licensing.queries ----------


def _balances_case(context: Context) -> tuple[int, int]:
    """Two balances of one license in two VAs of the account, the first with licenses to spare."""
    from django.db.models import F

    from licensing.models import LicenseBalance

    balances = LicenseBalance.objects.filter(smart_account_id=context.large_account_id)
    spare = balances.filter(purchased__gt=F("in_use") + F("reserved") + 2).order_by("pk")
    for source in spare[:50]:
        target = (
            balances.filter(license_id=source.license_id)
            .exclude(virtual_account_id=source.virtual_account_id)
            .order_by("pk")
            .first()
        )
        if target is not None:
            return source.pk, target.pk
    raise LookupError("no license with licenses to spare in one VA and a balance in another")


def _locked_balances(case: tuple[int, int]) -> dict:
    from licensing.ledger import new_movement
    from licensing.models import LicenseBalance

    balances = {b.pk: b for b in LicenseBalance.objects.select_for_update().filter(pk__in=case).order_by("pk")}
    return {"source": balances[case[0]], "target": balances[case[1]], "quantity": 1, "movement": new_movement()}


def _move_reference(arguments: dict) -> list:
    from licensing.ledger.lots import move_portion_by_portion

    return sorted((p.lot.pk, p.quantity) for p in move_portion_by_portion(**arguments))


def _move_sql(arguments: dict) -> list:
    from licensing.ledger import move_between_vas

    return sorted((p.lot.pk, p.quantity) for p in move_between_vas(**arguments))


register(
    rule="a transfer's lots, entries and balances (`move_between_vas`)",
    where="licensing.queries",
    target="transfers",
    setup=_balances_case,
    arguments=_locked_balances,
    reference=_move_reference,
    sql=_move_sql,
    same=lambda portions: portions,
    isolate=True,
    repetitions=100,
    requires=(
        "licensing.queries:transfer_writes",
        "licensing.ledger.lots:move_portion_by_portion",
        "licensing.ledger:move_between_vas",
    ),
)

_USAGE_INSTANCES = 500


def _usage_case(context: Context) -> dict[int, dict[int, int]]:
    """A batch of instances' usage, each count one more than now (what a batch of reports sets)."""
    from licensing.models import ProductInstanceUsage

    usage: dict[int, dict[int, int]] = {}
    rows = (
        ProductInstanceUsage.objects.filter(product_instance__smart_account_id=context.large_account_id)
        .order_by("product_instance_id", "license_id")
        .values_list("product_instance_id", "license_id", "count")
    )
    for instance_id, license_id, count in rows.iterator():
        if instance_id not in usage and len(usage) == _USAGE_INSTANCES:
            break
        usage.setdefault(instance_id, {})[license_id] = count + 1
    return usage


def _set_usage(sql: bool) -> Callable[[dict], Any]:
    def call(usage: dict) -> Any:
        from licensing.ledger import set_instances_usage

        return _switched("licensing.queries.in_use", sql, lambda: set_instances_usage(usage))

    return call


register(
    rule=f"usage of {_USAGE_INSTANCES} instances set (`set_instances_usage`)",
    where="licensing.queries",
    target="ingest-batch",
    setup=_usage_case,
    reference=_set_usage(False),
    sql=_set_usage(True),
    same=lambda changed: sorted((k, sorted(v.items())) for k, v in changed.items()),
    isolate=True,
    repetitions=50,
    requires=("licensing.queries:usage_writes", "licensing.ledger:set_instances_usage"),
)
