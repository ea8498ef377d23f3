"""smartaccounts knows nothing of licensing: licensing answers its signals instead."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError

import smartaccounts
from licensing.models import License, LicenseBalance, LicenseLot, Order, ProductInstance
from smartaccounts import services
from tests.factories import make_account, make_va

SMARTACCOUNTS = Path(smartaccounts.__file__).parent


def _imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def licensing_imports_in_smartaccounts() -> list[str]:
    found = []
    for path in sorted(SMARTACCOUNTS.rglob("*.py")):
        if "tests" in path.relative_to(SMARTACCOUNTS).parts:
            continue
        for module in sorted(_imported_modules(path)):
            if module == "licensing" or module.startswith("licensing."):
                found.append(f"{path.relative_to(SMARTACCOUNTS.parent)} imports {module}")
    return found


def test_smartaccounts_never_imports_licensing():
    assert licensing_imports_in_smartaccounts() == []


def test_the_scan_sees_a_licensing_import(tmp_path, monkeypatch):
    (tmp_path / "services").mkdir()
    (tmp_path / "services" / "bad.py").write_text("def f():\n    from licensing.models import LicenseBalance\n")
    (tmp_path / "ok.py").write_text("import smartaccounts.models\n")
    monkeypatch.setattr(__import__(__name__, fromlist=["x"]), "SMARTACCOUNTS", tmp_path)
    assert licensing_imports_in_smartaccounts() == [f"{tmp_path.name}/services/bad.py imports licensing.models"]


@pytest.mark.django_db
def test_deleting_an_empty_va_removes_its_zero_balances_through_the_signal():
    account = make_account()
    va = make_va(account, "Emptied")
    lic = License.objects.create(name="DNA Advantage", tag="regid.test.dna-adv", product_family="Catalyst")
    LicenseBalance.objects.create(smart_account=account, virtual_account=va, license=lic)
    services.delete_virtual_account(actor=account.created_by, virtual_account=va)
    assert not LicenseBalance.objects.filter(virtual_account=va).exists()


@pytest.mark.django_db
def test_licensing_names_what_a_va_holds_in_the_order_the_message_gives():
    account = make_account()
    va = make_va(account, "Busy")
    lic = License.objects.create(name="DNA Advantage", tag="regid.test.dna-adv", product_family="Catalyst")
    LicenseLot.objects.create(smart_account=account, virtual_account=va, license=lic, quantity=1)
    ProductInstance.objects.create(smart_account=account, virtual_account=va, pid="C9300-48P", serial_number="FOC2")
    ProductInstance.objects.create(
        smart_account=account, virtual_account=va, pid="C9300-48P", serial_number="FOC3", status="removed"
    )
    Order.objects.create(number="SO-2", smart_account=account, virtual_account=va)
    Order.objects.create(number="SO-3", smart_account=account, virtual_account=va)
    assert services.virtual_account_holdings(va) == [
        "1 license",
        "1 product instance",
        "2 orders waiting to be deposited",
    ]
    with pytest.raises(ValidationError, match="it still holds 1 license, 1 product instance, 2 orders"):
        services.delete_virtual_account(actor=account.created_by, virtual_account=va)
