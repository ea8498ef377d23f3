"""Concurrent tree writers in several OS processes leave every tree intact (PostgreSQL)."""

import json
import os
import subprocess
import sys
from collections import defaultdict

import pytest
from django.db import connection

from smartaccounts.models import VirtualAccount
from tests.conftest import REPO
from tests.factories import make_account, make_va

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

PROCESSES = 6
OPS_PER_PROCESS = 40


def worker_env() -> dict:
    db = connection.settings_dict
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.test_settings",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "PYTHONUNBUFFERED": "1",
    }


def snapshot() -> dict[int, tuple]:
    return {
        row[0]: row[1:]
        for row in VirtualAccount.objects.order_by("pk").values_list("pk", "lft", "rght", "level", "parent_id")
    }


def trees() -> set[frozenset[int]]:
    """Which VAs share a tree (tree ids themselves may be renumbered by a rebuild)."""
    groups = defaultdict(set)
    for pk, tree_id in VirtualAccount.objects.values_list("pk", "tree_id"):
        groups[tree_id].add(pk)
    return {frozenset(g) for g in groups.values()}


def test_concurrent_creators_and_movers_keep_the_trees_intact(postgres):
    accounts = [make_account(domain=f"race{i}.example.com") for i in range(3)]
    for account in accounts:
        top = make_va(account, "Top")
        make_va(account, "Middle", parent=top)
    ids = [str(a.pk) for a in accounts]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.smartaccounts.tree_worker", str(seed), str(OPS_PER_PROCESS), *ids],
            cwd=REPO,
            env=worker_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in range(PROCESSES)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert sum(len(r["created"]) for r in results) > PROCESSES * 5
    assert sum(r["moved"] for r in results) > PROCESSES * 5

    # Every name made and not deleted is there, once, in its own account.
    for account in accounts:
        expected = {"DEFAULT", "Top", "Middle"}
        for r in results:
            expected |= {name for acc, name in r["created"] if acc == account.pk}
            expected -= {name for acc, name in r["deleted"] if acc == account.pk}
        live = list(
            VirtualAccount.objects.filter(smart_account=account, deleted_at__isnull=True).values_list("name", flat=True)
        )
        assert sorted(live) == sorted(expected)

    # Parents stay inside their account, and the MPTT fields agree with the parent links.
    for va in VirtualAccount.objects.filter(parent__isnull=False).select_related("parent"):
        assert va.parent.smart_account_id == va.smart_account_id
        assert va.parent.tree_id == va.tree_id and va.parent.lft < va.lft < va.rght < va.parent.rght
        assert va.level == va.parent.level + 1

    before, groups_before = snapshot(), trees()
    VirtualAccount.objects.rebuild()
    assert snapshot() == before
    assert trees() == groups_before
