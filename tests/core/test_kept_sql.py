"""The benchmark phase "SQL kept beside its reference" (bench/kept_sql.py): a row per registered pair,
both sides timed on the same input, every write rolled back."""

import pytest

from bench import kept_sql
from licensing.estate import EstateSpec, generate
from smartaccounts.models import Event

pytestmark = pytest.mark.django_db


def test_the_statements_on_main_are_registered_and_a_pair_whose_code_is_missing_is_not(monkeypatch):
    monkeypatch.setattr(kept_sql, "PAIRS", list(kept_sql.PAIRS))
    missing = kept_sql.register(
        rule="not here",
        where="nowhere",
        target="transfers",
        setup=lambda context: None,
        reference=lambda case: None,
        sql=lambda case: None,
        requires=("smartaccounts.queries:no_such_statement",),
    )
    absent_module = kept_sql.register(
        rule="not here either",
        where="nowhere",
        target="transfers",
        setup=lambda context: None,
        reference=lambda case: None,
        sql=lambda case: None,
        requires=("no_such_app.queries:anything",),
    )

    registered = kept_sql.registered()

    rules = [pair.rule for pair in registered]
    assert "`roles_reaching`: the VA-scoped region User, two VAs" in rules
    assert "`roles_reaching`: the account Admin, two VAs" in rules
    assert missing not in registered and absent_module not in registered
    assert {pair.where for pair in registered} >= {"smartaccounts.queries"}


def _writing_pair(**kwargs) -> kept_sql.Pair:
    def write(case):
        Event.objects.create(action="bench.probe", message="probe")
        return Event.objects.filter(action="bench.probe").count()

    return kept_sql.Pair(
        rule="probe", where="tests", target="transfers", setup=lambda _: None, reference=write, sql=write, **kwargs
    )


CONTEXT = kept_sql.Context(large_account_id=0, admin_email="", va_user_email="", va_user_va_id=0, smoke=True)


def test_both_sides_are_timed_alternately_and_their_writes_rolled_back():
    row = kept_sql.measure(_writing_pair(), CONTEXT, repetitions=3)

    assert row["repetitions"] == 3 and row["reference_p50_ms"] > 0 and row["sql_p50_ms"] > 0
    assert row["speedup"] > 0 and row["same_results"] is None
    assert not Event.objects.filter(action="bench.probe").exists()


def test_results_are_compared_when_the_pair_says_how():
    # Not isolated, the count grows from call to call: the two sides never see the same rows.
    assert kept_sql.measure(_writing_pair(same=int), CONTEXT, repetitions=2)["same_results"] is False
    # Each call rolled back to its savepoint: both sides meet the same rows and agree.
    assert kept_sql.measure(_writing_pair(same=int, isolate=True), CONTEXT, repetitions=2)["same_results"] is True


@pytest.mark.postgres
def test_the_phase_runs_on_a_tiny_estate_with_a_row_per_registered_pair(postgres):
    estate = generate(EstateSpec().scaled(0.005), seed=7)
    events = Event.objects.count()
    context = kept_sql.Context(
        estate.large_account_id, estate.admin_email, estate.va_user_email, estate.va_user_va_id, smoke=True
    )

    rows = kept_sql.run(context)

    assert [row["rule"] for row in rows] == [pair.rule for pair in kept_sql.registered()]
    assert len(rows) >= 3
    for row in rows:
        assert row["reference_p50_ms"] > 0 and row["sql_p50_ms"] > 0 and row["speedup"] > 0, row
        assert row["repetitions"] == kept_sql.SMOKE_REPETITIONS
        assert row["same_results"] is not False, row  # the statement computes what its reference does
    assert Event.objects.count() == events  # every write was rolled back
