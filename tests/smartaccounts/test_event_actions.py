"""The event log's action filter lists the action codes of that account's log: each once, sorted."""

import pytest

from smartaccounts.models import Event
from smartaccounts.selectors import event_actions
from tests.factories import make_account

pytestmark = pytest.mark.django_db


def test_the_action_codes_are_those_of_the_account_each_once_in_order(account):
    other = make_account(name="Other Networks", domain="other.example.com")
    before = set(event_actions(account))
    for action in ["va.renamed", "license.transferred", "va.renamed", "zz.last", "license.transferred"]:
        Event.objects.create(smart_account=account, action=action, message=action)
    Event.objects.create(smart_account=other, action="aa.elsewhere", message="not ours")
    codes = event_actions(account)
    assert codes == sorted(before | {"va.renamed", "license.transferred", "zz.last"})
    assert "aa.elsewhere" not in codes and "aa.elsewhere" in event_actions(other)
