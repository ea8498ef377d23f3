"""The permission matrix over every smartaccounts URL (see tests/isolation.py)."""

import pytest

from tests.isolation import Case, build_tenant, check_permission_matrix

pytestmark = pytest.mark.django_db

CASES = [
    Case("account_home"),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_permission_matrix(client, case):
    check_permission_matrix(client, case, build_tenant())
