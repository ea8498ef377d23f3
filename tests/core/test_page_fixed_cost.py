"""What every account page reads, read in fewer queries: each folded read answers what its reference does.

- the tab badges, read with the account (`navigation.with_badges`) against each badge's own count;
- the account home's figures (`account_home_counts`) against the VA count and `member_count`;
- the account home's license panel (`license_summary_counts`, one query) against the licenses page's rows
  and `license_alert_counts`;
- the policy in force of one account (`rules_in_force`, one query) against `policies_in_force`.
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from licensing.models import HandOver
from licensing.selectors import scope_for
from licensing.selectors.licenses import _summaries, license_alert_counts, license_summary_counts
from policy.models import AccountPolicy, Policy
from policy.rules import policies_in_force, rules_in_force
from policy.services import assign_policy, create_policy
from smartaccounts import navigation, selectors, services
from smartaccounts.access import with_account_roles
from smartaccounts.models import SmartAccount
from tests.factories import make_staff, make_user
from tests.isolation import build_tenant
from tests.licensing.test_query_counts import populate

pytestmark = pytest.mark.django_db


def queries_of(call):
    with CaptureQueriesContext(connection) as captured:
        result = call()
    return result, len(captured.captured_queries)


@pytest.fixture
def tenant():
    tenant = build_tenant("Folded")
    populate(tenant, instances=12, licenses=4, vas=2)
    return tenant


def test_the_tab_badges_read_with_the_account_are_the_badges_counts(tenant):
    for i in range(3):
        services.request_access(requester=make_user(f"asks{i}@{tenant.account.domain}"), smart_account=tenant.account)
    partner = build_tenant("Partner").account
    for status in ("pending", "pending", "accepted"):
        HandOver.objects.create(
            partner_account=partner, customer_account=tenant.account, status=status, created_by=tenant.admin
        )
    badges = {name: item for name, item in navigation._registry.items() if item.badge is not None}
    assert {"account_users", "hand_overs_incoming"} <= set(badges)

    accounts = navigation.with_badges(with_account_roles(SmartAccount.objects.all(), tenant.admin))
    account, queries = queries_of(lambda: accounts.get(pk=tenant.account.pk))

    assert queries == 1
    for name, item in badges.items():
        assert getattr(account, f"nav_badge_{name}") == item.badge(tenant.account).count()
    assert account.nav_badge_account_users == 3 and account.nav_badge_hand_overs_incoming == 2
    # Each badge is the count of the rows its queryset names, whichever account it is asked for.
    assert navigation.with_badges(SmartAccount.objects.filter(pk=partner.pk)).get().nav_badge_account_users == 0


@pytest.mark.parametrize("who", ["admin", "viewer", "va_viewer", "va_user"])
def test_an_account_pages_badges_and_tile_need_no_count_of_their_own(client, tenant, who):
    for i in range(7):
        services.request_access(requester=make_user(f"asks{i}@{tenant.account.domain}"), smart_account=tenant.account)
    client.force_login(getattr(tenant, who))
    for name in ("account_home", "licenses", "account_events"):
        url = reverse(name, args=[tenant.account.pk])
        client.get(url)
        with CaptureQueriesContext(connection) as captured:
            page = client.get(url).content.decode()
        counts = [q["sql"] for q in captured.captured_queries if "smartaccounts_accessrequest" in q["sql"]]
        shown = '<span class="badge badge-warn" title="Waiting for an Admin">7</span>' in page
        assert shown == (who == "admin"), name
        # The query that reads the account counts them; the Admin's home lists five more (the tile's people).
        assert len(counts) == (2 if who == "admin" and name == "account_home" else 1), name


@pytest.mark.parametrize("who", ["admin", "viewer", "va_viewer"])
def test_the_account_home_figures_are_the_va_count_and_the_members(tenant, who):
    user = getattr(tenant, who)
    make_user("api@folded.example.com")  # not a member: no role
    found, queries = queries_of(lambda: selectors.account_home_counts(user, tenant.account))
    assert queries == 1
    assert found == {
        "va_count": selectors.virtual_accounts_for(user, tenant.account).count(),
        "member_count": selectors.member_count(tenant.account),
    }
    assert found["member_count"] == 5 and found["va_count"] == (2 + 2 if who == "va_viewer" else 4 + 2)


@pytest.mark.parametrize("who", ["admin", "va_viewer"])
def test_the_license_panel_counts_what_the_licenses_page_lists(tenant, who):
    user = getattr(tenant, who)
    scope = scope_for(user, tenant.account)
    found, queries = queries_of(lambda: license_summary_counts(scope))
    assert queries == 1
    assert found == {"licenses": _summaries(scope).count(), "alerts": license_alert_counts(scope)}
    assert found["licenses"] > 0


def test_the_policy_in_force_of_one_account_is_policies_in_force(account):
    staff = make_staff(
        "ops@operator.example.net", "policy.add_policy", "policy.add_accountpolicy", "policy.change_accountpolicy"
    )

    def both():
        reference = policies_in_force([account.pk]).get(account.pk, (None, {}))
        (version, rules), queries = queries_of(lambda: rules_in_force(account.pk))
        assert queries == 1
        assert (version.pk, version.policy.is_default) == (reference[0].pk, reference[0].policy.is_default)
        assert {c: (r.pk, r.first_report_days) for c, r in rules.items()} == {
            c: (r.pk, r.first_report_days) for c, r in reference[1].items()
        }
        return version

    assert both().policy.is_default
    rules = {"unenforced_perpetual": (30, 90, 14, True), "unenforced_subscription": (30, 90, 14, True)}
    rules.update(enforced=(0, 0, 0, False), export_controlled=(0, 0, 0, False))
    strict = create_policy(actor=staff, name="Strict", rules=rules)
    assign_policy(actor=staff, smart_account=account, policy=strict)
    assert both().policy == strict
    # An assigned policy without a version puts none in force (the default does not step in).
    bare = Policy.objects.create(name="Bare")
    AccountPolicy.objects.filter(smart_account=account).update(policy=bare)
    assert rules_in_force(account.pk) == (None, {}) == policies_in_force([account.pk]).get(account.pk, (None, {}))
