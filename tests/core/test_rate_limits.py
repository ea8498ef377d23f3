"""Rate limits and the login lockout, as a client meets them over HTTP.

Every limit is keyed on the client address the portal's edge saw (REMOTE_ADDR, or the entry the
trusted proxies wrote into X-Forwarded-For): a header the client writes itself changes nothing.
Limits are set small here with settings; each test counts in a cache namespace of its own.
"""

import itertools
import json
import secrets

import pytest
from django.core.management import call_command
from django.urls import reverse

from smartaccounts.models import User
from tests.factories import PASSWORD, default_va, grant, make_account, make_user
from tests.licensing.helpers import token_for
from tests.licensing.workflows.helpers import make_license, make_pak, make_sku

pytestmark = pytest.mark.django_db

_n = itertools.count(1)


def new_address() -> str:
    """A client address no other test uses (198.18.0.0/15 is reserved for benchmarks)."""
    n = next(_n) + secrets.randbelow(10_000) * 100
    return f"198.{18 + (n >> 16) % 2}.{(n >> 8) % 256}.{n % 256}"


def spoofed() -> dict:
    """A fresh X-Forwarded-For per request, as the attacker of the issue sent."""
    return {"HTTP_X_FORWARDED_FOR": new_address()}


@pytest.fixture(autouse=True)
def own_counters(settings):
    """Counters of this test only: a key prefix of its own in the configured cache (Redis in CI)."""
    settings.CACHES = {
        alias: {**conf, "KEY_PREFIX": f"test-{secrets.token_hex(6)}"} for alias, conf in settings.CACHES.items()
    }


def limit(settings, **rates):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, **rates}


def assert_rate_limited_page(response, what: str):
    assert response.status_code == 429
    text = response.content.decode()
    assert "Too many attempts" in text and what in text
    assert int(response["Retry-After"]) > 0


# --- Login lockout ----------------------------------------------------------------------------------------------


def log_in(client, email, password, address, url=None, **extra):
    return client.post(url or reverse("login"), {"username": email, "password": password}, REMOTE_ADDR=address, **extra)


def test_five_wrong_passwords_lock_the_login_from_that_address_even_with_the_right_one(client):
    user = make_user("alice@acme.example.com")
    address = new_address()
    for _ in range(4):
        assert log_in(client, user.email, "wrong-password", address, **spoofed()).status_code == 200
    assert log_in(client, user.email, "wrong-password", address, **spoofed()).status_code == 429  # the 5th
    response = log_in(client, user.email, PASSWORD, address, **spoofed())
    assert_rate_limited_page(response, "failed log-ins")
    text = response.content.decode()
    assert "15 minutes" in text and "5 wrong passwords" in text and "administrator" in text
    assert "_auth_user_id" not in client.session
    # The lockout is for this login from this address: the same person elsewhere logs in.
    assert log_in(client, user.email, PASSWORD, new_address()).status_code == 302


def test_the_lockout_counts_an_e_mail_address_whatever_its_case(client):
    user = make_user("bob@acme.example.com")
    address = new_address()
    for variant in ("Bob@acme.example.com", "BOB@ACME.EXAMPLE.COM", "bob@Acme.example.com", " bob@acme.example.com"):
        log_in(client, variant, "wrong-password", address)
    log_in(client, "bob@acme.example.COM", "wrong-password", address)
    assert log_in(client, user.email, PASSWORD, address).status_code == 429


def test_a_successful_login_resets_the_count(client):
    user = make_user("carol@acme.example.com")
    address = new_address()
    for _ in range(4):
        log_in(client, user.email, "wrong-password", address)
    assert log_in(client, user.email, PASSWORD, address).status_code == 302
    client.logout()
    for _ in range(4):
        log_in(client, user.email, "wrong-password", address)
    assert log_in(client, user.email, PASSWORD, address).status_code == 302


def test_the_admin_login_is_locked_out_too(client):
    staff = make_user("ops@operator.example.net", is_staff=True, is_superuser=True)
    address = new_address()
    url = reverse("admin:login")
    for _ in range(4):
        assert log_in(client, staff.email, "wrong-password", address, url=url).status_code == 200
    assert log_in(client, staff.email, "wrong-password", address, url=url).status_code == 429
    response = log_in(client, staff.email, PASSWORD, address, url=url)
    assert_rate_limited_page(response, "failed log-ins")
    assert client.get(reverse("admin:index"), REMOTE_ADDR=address).status_code == 302  # still not signed in


def test_an_operator_lifts_a_lockout_with_the_management_command(client):
    user = make_user("dave@acme.example.com")
    address = new_address()
    for _ in range(5):
        log_in(client, user.email, "wrong-password", address)
    assert log_in(client, user.email, PASSWORD, address).status_code == 429
    call_command("axes_reset_username", "dave@acme.example.com")
    assert log_in(client, user.email, PASSWORD, address).status_code == 302


def test_the_lockout_settings_apply(client, settings):
    settings.AXES_FAILURE_LIMIT = 2
    user = make_user("erin@acme.example.com")
    address = new_address()
    for _ in range(2):
        log_in(client, user.email, "wrong-password", address)
    assert log_in(client, user.email, PASSWORD, address).status_code == 429


# --- Pages: sign-up, password reset, PAK numbers ----------------------------------------------------------------


def test_sign_up_is_limited_per_client_address(client, settings):
    limit(settings, signup="2/hour")
    address = new_address()
    for n in range(2):
        data = {"email": f"new{n}@initech.example.org", "first_name": "N"}
        assert client.post(reverse("signup"), data, REMOTE_ADDR=address, **spoofed()).status_code == 302
    response = client.post(reverse("signup"), {"email": "new9@initech.example.org"}, REMOTE_ADDR=address, **spoofed())
    assert_rate_limited_page(response, "sign-up requests")
    assert not User.objects.filter(email="new9@initech.example.org").exists()
    other = client.post(reverse("signup"), {"email": "new8@initech.example.org"}, REMOTE_ADDR=new_address())
    assert other.status_code == 302


def test_password_reset_is_limited_per_client_address(client, settings, mailoutbox):
    limit(settings, password_reset="2/hour")
    user = make_user("frank@acme.example.com")
    address = new_address()
    for _ in range(2):
        response = client.post(reverse("password_reset"), {"email": user.email}, REMOTE_ADDR=address, **spoofed())
        assert response.status_code == 302
    response = client.post(reverse("password_reset"), {"email": user.email}, REMOTE_ADDR=address, **spoofed())
    assert_rate_limited_page(response, "password reset requests")
    assert len(mailoutbox) == 2


@pytest.fixture
def paks():
    account = make_account(name="Acme Networks", domain="acme.example.com")
    sku = make_sku(make_license("Catalyst 9300 DNA Advantage"))
    loose = make_pak(None, [(sku, 1)], number="3PAK-LOOSE-0001")
    return account, loose


def enter_pak(client, account, number, address=None):
    url = reverse("pak_list", kwargs={"account_id": account.pk})
    return client.post(url, {"number": number}, REMOTE_ADDR=address or new_address())


def test_pak_guessing_stops_at_the_limit_per_login_and_the_unowned_pak_stays_unclaimed(client, settings, paks):
    account, loose = paks
    limit(settings, pak_claim_user="3/hour")
    client.force_login(account.created_by)
    for n in range(3):  # from a new address each time: the limit per login still counts them
        assert enter_pak(client, account, f"3PAK-GUESS-{n:04d}").status_code == 200
    response = enter_pak(client, account, loose.number)
    assert_rate_limited_page(response, "PAK numbers")
    loose.refresh_from_db()
    assert loose.owner_id is None


def test_pak_numbers_are_limited_per_account_across_its_people(client, settings, paks):
    account, _ = paks
    limit(settings, pak_claim_account="3/hour")
    colleague = grant(make_user("gina@acme.example.com"), "user", account=account)
    client.force_login(account.created_by)
    for n in range(2):
        assert enter_pak(client, account, f"3PAK-GUESS-{n:04d}").status_code == 200
    client.force_login(colleague)
    assert enter_pak(client, account, "3PAK-GUESS-0002").status_code == 200
    assert_rate_limited_page(enter_pak(client, account, "3PAK-GUESS-0003"), "PAK numbers")
    other = make_account(name="Other Co", domain="other.example.com")
    client.force_login(other.created_by)
    assert enter_pak(client, other, "3PAK-GUESS-0004").status_code == 200  # another account has its own budget


def test_pak_numbers_are_limited_per_client_address_across_logins(client, settings, paks):
    account, _ = paks
    limit(settings, pak_claim_address="2/hour")
    address = new_address()
    other = make_account(name="Other Co", domain="other.example.com")
    client.force_login(account.created_by)
    assert enter_pak(client, account, "3PAK-GUESS-0001", address).status_code == 200
    client.force_login(other.created_by)
    assert enter_pak(client, other, "3PAK-GUESS-0002", address).status_code == 200
    assert_rate_limited_page(enter_pak(client, other, "3PAK-GUESS-0003", address), "PAK numbers")


def test_someone_without_a_role_gets_the_404_and_uses_no_budget(client, settings, paks):
    account, _ = paks
    limit(settings, pak_claim_address="1/hour")
    address = new_address()
    client.force_login(make_user("stranger@elsewhere.example.com"))
    for _ in range(3):
        assert enter_pak(client, account, "3PAK-GUESS-0001", address).status_code == 404
    client.force_login(account.created_by)
    assert enter_pak(client, account, "3PAK-GUESS-0001", address).status_code == 200


# --- Device endpoints -------------------------------------------------------------------------------------------


def post_json(client, url, body, address, **extra):
    return client.post(url, json.dumps(body), content_type="application/json", REMOTE_ADDR=address, **extra)


def test_device_registration_is_limited_per_client_address(client, settings):
    limit(settings, device_registration="2/minute")
    account = make_account(name="Acme Networks", domain="acme.example.com")
    token = token_for(default_va(account))
    address = new_address()
    url = reverse("api_device_register")
    for n in range(2):
        body = {"token": token.token, "pid": "C9300-48P", "serial_number": f"FOC0000B{n:03d}"}
        assert post_json(client, url, body, address, **spoofed()).status_code == 201
    body = {"token": token.token, "pid": "C9300-48P", "serial_number": "FOC0000B999"}
    response = post_json(client, url, body, address, **spoofed())
    assert response.status_code == 429 and int(response["Retry-After"]) > 0
    assert response["Content-Type"].startswith("application/json")
    assert post_json(client, url, body, new_address()).status_code == 201


def test_a_forged_x_forwarded_for_does_not_reset_the_usage_report_limit(client, settings):
    limit(settings, usage_reports="3/minute")
    address = new_address()
    reports, notices = reverse("api_usage_reports"), reverse("api_change_notices")
    for url in (reports, notices, reports):  # reports and change notices share one budget
        assert post_json(client, url, {}, address, **spoofed()).status_code != 429
    assert post_json(client, reports, {}, address, **spoofed()).status_code == 429
    assert post_json(client, notices, {}, address, **spoofed()).status_code == 429
    assert post_json(client, reports, {}, new_address()).status_code != 429


def test_behind_trusted_proxies_each_client_has_its_own_budget(client, settings):
    """One proxy in front: it appends the address it saw; what the client wrote to its left is ignored."""
    settings.TRUSTED_PROXY_COUNT = 1
    limit(settings, usage_reports="2/minute")
    proxy, alice, bob = new_address(), new_address(), new_address()
    url = reverse("api_usage_reports")

    def via_proxy(client_address):
        forwarded = f"{new_address()}, {client_address}"  # forged entry, then the proxy's own
        return post_json(client, url, {}, proxy, HTTP_X_FORWARDED_FOR=forwarded).status_code

    assert [via_proxy(alice) for _ in range(3)][-1] == 429
    assert via_proxy(bob) != 429
