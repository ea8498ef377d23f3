"""A Virtual Account's pages as one hub: its tabs, its breadcrumbs, and the VA-scoped list pages."""

import re

import pytest
from django.urls import reverse

from tests.factories import grant, make_account, make_user, make_va
from tests.licensing.helpers import deposit, make_license, register

pytestmark = pytest.mark.django_db

HUB = [
    ("virtual_account", "General"),
    ("va_licenses", "Licenses"),
    ("va_instances", "Product Instances"),
    ("va_tokens", "Registration Tokens"),
    ("va_reservations", "Reservations"),
    ("va_reporting", "Reporting"),
    ("va_events", "Event Log"),
]


@pytest.fixture
def estate():
    account = make_account(name="Acme Networks", domain="acme.example.com")
    engineering = make_va(account, "Engineering")
    campus = make_va(account, "Campus", parent=engineering)
    lic = make_license("Catalyst 9300 Network Advantage")
    deposit(engineering, lic, 3)
    deposit(campus, lic, 5)
    register(engineering, {lic: 1}, serial="FOCENG00001", hostname="eng-sw-01")
    register(campus, {lic: 1}, serial="FOCCAMP0001", hostname="campus-sw-01")
    return account, engineering, campus


def tabs_of(html: str) -> list[tuple[str, bool]]:
    bar = html.split('data-testid="va-tabs"', 1)[1].split("</nav>", 1)[0]
    links = re.findall(r'<a href="[^"]+" (aria-current="page")?>([^<]+)</a>', bar)
    return [(label, bool(current)) for current, label in links]


@pytest.mark.parametrize(("url_name", "label"), HUB)
def test_every_tab_of_the_hub_shows_every_tab_with_itself_current_and_the_path(client, estate, url_name, label):
    account, engineering, campus = estate
    client.force_login(account.created_by)
    html = client.get(reverse(url_name, args=[account.pk, campus.pk])).content.decode()
    assert tabs_of(html) == [(name, name == label) for _, name in HUB]
    crumbs = re.sub(r"<[^>]+>", "", html.split('data-testid="va-breadcrumbs">', 1)[1].split("</nav>", 1)[0])
    assert crumbs.startswith("Acme Networks › Virtual Accounts › Engineering › Campus")
    # In the account's tab bar, the hub is the Virtual Accounts tab.
    assert re.search(r'aria-current="page"\s*>Virtual Accounts<', html)


def test_reporting_and_reservations_of_a_va_are_its_own_and_with_sub_accounts_its_subtrees(client, estate):
    account, engineering, campus = estate
    client.force_login(account.created_by)
    url = reverse("va_reporting", args=[account.pk, engineering.pk])
    own = client.get(url).content.decode()
    assert "FOCENG00001" in own and "FOCCAMP0001" not in own
    both = client.get(url, {"subtree": "on"}).content.decode()
    assert "FOCENG00001" in both and "FOCCAMP0001" in both
    campus_only = client.get(reverse("va_reporting", args=[account.pk, campus.pk])).content.decode()
    assert "FOCENG00001" not in campus_only and "FOCCAMP0001" in campus_only


def test_a_va_scoped_person_sees_only_the_part_of_the_path_their_role_reaches(client, estate):
    account, engineering, campus = estate
    lab = make_va(account, "Lab", parent=campus)
    person = grant(make_user("eli@acme.example.com"), "viewer", va=campus)
    client.force_login(person)
    html = client.get(reverse("va_licenses", args=[account.pk, lab.pk])).content.decode()
    crumbs = re.sub(r"<[^>]+>", "", html.split('data-testid="va-breadcrumbs">', 1)[1].split("</nav>", 1)[0])
    assert crumbs.startswith("Acme Networks › Virtual Accounts › Campus › Lab")
    assert "Engineering" not in html
    assert client.get(reverse("va_reporting", args=[account.pk, engineering.pk])).status_code == 404


def test_the_token_page_gives_the_commands_with_the_token_to_operators_only(client, estate):
    from tests.licensing.helpers import token_for

    account, engineering, campus = estate
    token = token_for(campus, description="Closet")
    url = reverse("va_tokens", args=[account.pk, campus.pk])
    client.force_login(account.created_by)
    html = client.get(url).content.decode()
    assert f"license smart trust idtoken {token.token} all" in html
    assert f"license smart register idtoken {token.token}" in html
    curl = html.split('id="cmd-curl"', 1)[1].split("</pre>", 1)[0]
    assert "'http://testserver/api/v1/devices/register/'" in curl, curl
    assert f'"token": "{token.token}"' in curl, curl
    viewer = grant(make_user("vera@acme.example.com"), "viewer", account=account)
    client.force_login(viewer)
    html = client.get(url).content.decode()
    assert token.token not in html and "license smart trust idtoken &lt;token&gt; all" in html
