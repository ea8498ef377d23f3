"""OAuth2 token endpoints and Bearer tokens: every way our clients send credentials (CSSM_API.md §1)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import secrets
from urllib.parse import urlencode

import pytest
from django.contrib.auth.hashers import check_password, identify_hasher
from django.core.cache import cache
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone
from oauth2_provider.models import AccessToken, Application, RefreshToken
from rest_framework.test import APIClient

from smartaccounts.models import ApiClient, Event
from smartaccounts.services import revoke_api_client
from tests.api.helpers import bearer, get_token, make_api_client
from tests.factories import PASSWORD, grant, make_account, make_user, make_va

pytestmark = pytest.mark.django_db

PATHS = ["/as/token.oauth2", "/oauth2/default/v1/token"]
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def account():
    return make_account()


@pytest.fixture
def api_client(account):
    return make_api_client(account, "admin", name="Provisioning")


def _list_url(account):
    return reverse("api_api_clients", kwargs={"account_id": account.pk})


def _assert_token(response, settings=None):
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert response["Cache-Control"] == "no-store"
    return body["access_token"]


def _works(account, token):
    response = APIClient().get(_list_url(account), headers=bearer(token))
    assert response.status_code == 200, response.content
    return response


@pytest.mark.parametrize("path", PATHS)
def test_form_body_client_credentials(client, account, api_client, path):
    obj, secret = api_client
    body = urlencode({"grant_type": "client_credentials", "client_id": obj.client_id, "client_secret": secret})
    token = _assert_token(client.post(path, body, content_type=FORM))
    _works(account, token)


@pytest.mark.parametrize("path", PATHS)
def test_query_string_with_empty_body_and_no_content_type(client, account, api_client, path):
    obj, secret = api_client
    query = urlencode({"grant_type": "client_credentials", "client_id": obj.client_id, "client_secret": secret})
    response = client.generic("POST", f"{path}?{query}", b"", content_type="")
    _works(account, _assert_token(response))


def test_query_string_password_grant_with_form_content_type(client, account, api_client):
    obj, secret = api_client
    person = grant(make_user(), "viewer", account=account)
    query = urlencode(
        {
            "grant_type": "password",
            "client_id": obj.client_id,
            "client_secret": secret,
            "username": person.email,
            "password": PASSWORD,
        }
    )
    response = client.generic("POST", f"{PATHS[0]}?{query}", b"", content_type=FORM)
    token = _assert_token(response)
    assert AccessToken.objects.get(application=obj.application).user == person
    assert _works_status(account, token) == 403  # a Viewer does not manage API clients


def _works_status(account, token):
    return APIClient().get(_list_url(account), headers=bearer(token)).status_code


def test_body_without_content_type(client, account, api_client):
    obj, secret = api_client
    body = f"grant_type=client_credentials&client_id={obj.client_id}&client_secret={secret}"
    _works(account, _assert_token(client.generic("POST", PATHS[1], body.encode(), content_type="")))


def test_body_built_by_string_formatting_not_url_encoded(client, account, api_client):
    obj, secret = api_client
    person = grant(make_user(), "admin", account=account)
    person.set_password("50%off&more")  # '%' not an escape: taken as written; '&' cannot survive unencoded
    person.set_password("50%off!")
    person.save()
    body = (
        f"grant_type=password&client_id={obj.client_id}&client_secret={secret}&username={person.email}&password=50%off!"
    )
    _works(account, _assert_token(client.post(PATHS[0], body, content_type=f"{FORM};charset=UTF-8")))


def test_http_basic_with_only_grant_type(client, account, api_client):
    obj, secret = api_client
    basic = base64.b64encode(f"{obj.client_id}:{secret}".encode()).decode()
    response = client.post(
        PATHS[0],
        "grant_type=client_credentials",
        content_type=f"{FORM};charset=UTF-8",
        headers={"Authorization": f"Basic {basic}"},
    )
    _works(account, _assert_token(response))


@pytest.mark.parametrize("path", PATHS)
def test_wrong_secret_is_401_invalid_client(client, api_client, path):
    obj, _ = api_client
    body = urlencode({"grant_type": "client_credentials", "client_id": obj.client_id, "client_secret": "x" * 48})
    response = client.post(path, body, content_type=FORM)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.json()["error_description"]


@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_other_methods_are_a_json_405(client, api_client, method):
    _, secret = api_client
    query = f"?grant_type=client_credentials&client_id={api_client[0].application.client_id}&client_secret={secret}"
    response = getattr(client, method)(PATHS[0] + query)
    assert response.status_code == 405 and response["Allow"] == "POST, OPTIONS"
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"] == "invalid_request" and "POST" in response.json()["error_description"]
    assert response["Cache-Control"] == "no-store"


def test_unknown_client_is_401(client):
    body = urlencode({"grant_type": "client_credentials", "client_id": "nobody-here", "client_secret": "y" * 48})
    response = client.post(PATHS[0], body, content_type=FORM)
    assert (response.status_code, response.json()["error"]) == (401, "invalid_client")


@pytest.mark.parametrize("grant_type", ["authorization_code", "implicit", "refresh_token", "nonsense"])
def test_other_grants_are_400_unsupported(client, api_client, grant_type):
    obj, secret = api_client
    body = urlencode({"grant_type": grant_type, "client_id": obj.client_id, "client_secret": secret})
    response = client.post(PATHS[0], body, content_type=FORM)
    assert (response.status_code, response.json()["error"]) == (400, "unsupported_grant_type")


def test_missing_grant_type_is_400_invalid_request(client, api_client):
    obj, secret = api_client
    response = client.post(PATHS[0], urlencode({"client_id": obj.client_id}), content_type=FORM)
    assert (response.status_code, response.json()["error"]) == (400, "invalid_request")


def test_wrong_password_is_400_invalid_grant(client, account, api_client):
    obj, secret = api_client
    person = grant(make_user(), "admin", account=account)
    body = urlencode(
        {
            "grant_type": "password",
            "client_id": obj.client_id,
            "client_secret": secret,
            "username": person.email,
            "password": "wrong",
        }
    )
    response = client.post(PATHS[0], body, content_type=FORM)
    assert (response.status_code, response.json()["error"]) == (400, "invalid_grant")
    assert not AccessToken.objects.exists()


def test_password_grant_needs_a_role_within_the_clients_scope(client, account):
    va = make_va(account, "Lab")
    other = make_va(account, "Prod")
    obj, secret = make_api_client(account, "user", virtual_account=va)
    outsider = grant(make_user(), "admin", va=other)
    insider = grant(make_user(), "viewer", va=va)
    fields = {"grant_type": "password", "client_id": obj.client_id, "client_secret": secret, "password": PASSWORD}
    refused = client.post(PATHS[0], urlencode({**fields, "username": outsider.email}), content_type=FORM)
    assert (refused.status_code, refused.json()["error"]) == (400, "invalid_grant")
    _assert_token(client.post(PATHS[0], urlencode({**fields, "username": insider.email}), content_type=FORM))


def test_service_identity_cannot_use_the_password_grant(client, account, api_client):
    obj, secret = api_client
    body = urlencode(
        {
            "grant_type": "password",
            "client_id": obj.client_id,
            "client_secret": secret,
            "username": obj.service_user.email,
            "password": "",
        }
    )
    assert client.post(PATHS[0], body, content_type=FORM).status_code == 400
    assert not obj.service_user.has_usable_password()
    assert not client.login(username=obj.service_user.email, password="")


@override_settings(AXES_FAILURE_LIMIT=2)
def test_password_grant_is_under_the_login_lockout(client, account, api_client):
    obj, secret = api_client
    person = grant(make_user(), "admin", account=account)
    fields = {"grant_type": "password", "client_id": obj.client_id, "client_secret": secret, "username": person.email}
    for _ in range(2):
        client.post(PATHS[0], urlencode({**fields, "password": "wrong"}), content_type=FORM)
    locked = client.post(PATHS[0], urlencode({**fields, "password": PASSWORD}), content_type=FORM)
    assert (locked.status_code, locked.json()["error"]) == (400, "invalid_grant")


def test_no_refresh_token_and_tokens_stored_hashed(client, account, api_client):
    obj, secret = api_client
    person = grant(make_user(), "admin", account=account)
    token = get_token(client, obj.client_id, secret)
    token2 = get_token(client, obj.client_id, secret, grant_type="password", username=person.email, password=PASSWORD)
    assert not RefreshToken.objects.exists()
    stored = AccessToken.objects.filter(application=obj.application)
    assert stored.count() == 2
    for row in stored:
        assert row.token not in (token, token2)
        assert token not in row.token and token2 not in row.token
    assert {row.token_checksum for row in stored} == {hashlib.sha256(t.encode()).hexdigest() for t in (token, token2)}
    application = Application.objects.get(pk=obj.application.pk)
    assert application.client_secret != secret and secret not in application.client_secret
    assert identify_hasher(application.client_secret)  # a password hash, checked with check_password
    assert check_password(secret, application.client_secret)


def test_expired_token_is_refused(client, account, api_client):
    obj, secret = api_client
    token = get_token(client, obj.client_id, secret)
    AccessToken.objects.update(expires=timezone.now() - dt.timedelta(seconds=1))
    response = APIClient().get(_list_url(account), headers=bearer(token))
    assert response.status_code == 401


def test_revoked_client_gets_no_token_and_its_tokens_are_refused(client, account, api_client):
    obj, secret = api_client
    token = get_token(client, obj.client_id, secret)
    _works(account, token)
    revoke_api_client(actor=account.created_by, api_client=obj)
    assert APIClient().get(_list_url(account), headers=bearer(token)).status_code == 401
    body = urlencode({"grant_type": "client_credentials", "client_id": obj.client_id, "client_secret": secret})
    assert client.post(PATHS[0], body, content_type=FORM).status_code == 401


def test_revoked_client_with_a_surviving_token_row_is_refused(client, account, api_client):
    """Even a token row left behind (e.g. restored from a backup) stops working once the client is revoked."""
    obj, secret = api_client
    token = get_token(client, obj.client_id, secret)
    ApiClient.objects.filter(pk=obj.pk).update(revoked_at=timezone.now())
    assert APIClient().get(_list_url(account), headers=bearer(token)).status_code == 401


def test_bad_bearer_token_is_401(account):
    assert APIClient().get(_list_url(account), headers=bearer("nope")).status_code == 401


def test_last_used_at_written_at_most_once_a_minute(client, account, api_client, django_assert_num_queries):
    obj, secret = api_client
    token = get_token(client, obj.client_id, secret)
    _works(account, token)
    first = ApiClient.objects.get(pk=obj.pk).last_used_at
    assert first is not None
    _works(account, token)
    assert ApiClient.objects.get(pk=obj.pk).last_used_at == first
    ApiClient.objects.filter(pk=obj.pk).update(last_used_at=first - dt.timedelta(minutes=2))
    _works(account, token)
    assert ApiClient.objects.get(pk=obj.pk).last_used_at > first - dt.timedelta(minutes=1)


def test_events_written_through_a_token_name_the_client(client, account, api_client):
    obj, secret = api_client
    person = grant(make_user(), "admin", account=account)
    token = get_token(client, obj.client_id, secret, grant_type="password", username=person.email, password=PASSWORD)
    body = {"name": "Child", "role": "viewer"}
    response = APIClient().post(_list_url(account), body, format="json", headers=bearer(token))
    assert response.status_code == 201, response.content
    event = Event.objects.get(action="api_client.created", details__name="Child")
    assert event.actor == person
    assert event.details["api_client"] == "Provisioning"
    cc = get_token(client, obj.client_id, secret)
    body = {"name": "Other", "role": "viewer"}
    response = APIClient().post(_list_url(account), body, format="json", headers=bearer(cc))
    assert response.status_code == 201
    event = Event.objects.get(action="api_client.created", details__name="Other")
    assert event.actor == obj.service_user
    assert event.details["api_client"] == "Provisioning"


def test_token_endpoint_is_throttled_per_address(client, api_client, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "api_token": "2/minute"}
    address = {"REMOTE_ADDR": f"198.18.{secrets.randbelow(256)}.{secrets.randbelow(256)}"}
    obj, secret = api_client
    body = urlencode({"grant_type": "client_credentials", "client_id": obj.client_id, "client_secret": secret})
    assert client.post(PATHS[0], body, content_type=FORM, **address).status_code == 200
    assert client.post(PATHS[1], body, content_type=FORM, **address).status_code == 200
    other = {"REMOTE_ADDR": "198.19.255.254" if address["REMOTE_ADDR"] != "198.19.255.254" else "198.19.255.253"}
    cache.delete_many([f"throttle_api_token_{other['REMOTE_ADDR']}"])
    assert client.post(PATHS[0], body, content_type=FORM, **other).status_code == 200  # another address
    refused = client.post(PATHS[0], body, content_type=FORM, **address)
    assert refused.status_code == 429
    assert refused.json()["error"] == "invalid_request"
    assert int(refused["Retry-After"]) >= 1


def test_session_auth_still_works_with_csrf_enforced(account):
    api = APIClient(enforce_csrf_checks=True)
    api.force_login(account.created_by)
    assert api.get(_list_url(account)).status_code == 200
    assert api.post(_list_url(account), {"name": "X", "role": "viewer"}, format="json").status_code == 403


def test_the_demo_client_gets_a_token_with_its_printed_credentials(client):
    import io

    from django.core.management.base import OutputWrapper
    from django.core.management.color import no_style

    from smartaccounts.demo import DEMO_API_CLIENT, DemoContext, seed

    out = io.StringIO()
    demo = DemoContext(stdout=OutputWrapper(out), style=no_style())
    seed(demo)
    seed(demo)  # idempotent
    demo.print_logins()
    printed = out.getvalue()
    assert f"client_id={DEMO_API_CLIENT['client_id']}" in printed
    assert f"client_secret={DEMO_API_CLIENT['client_secret']}" in printed
    assert ApiClient.objects.filter(name=DEMO_API_CLIENT["name"]).count() == 1
    token = get_token(client, DEMO_API_CLIENT["client_id"], DEMO_API_CLIENT["client_secret"])
    _works(demo.objects["customer"], token)


def test_api_limit_is_per_client_then_per_person(client, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "api": "2/minute"}
    account = make_account()
    first, first_secret = make_api_client(account, "admin")
    second, second_secret = make_api_client(account, "admin")
    cache.delete_many([f"throttle_api_client-{c.application_id}" for c in (first, second)])
    cache.delete(f"throttle_api_user-{account.created_by.pk}")
    token = get_token(client, first.client_id, first_secret)
    api = APIClient()
    assert [api.get(_list_url(account), headers=bearer(token)).status_code for _ in range(3)] == [200, 200, 429]
    other = get_token(client, second.client_id, second_secret)
    assert api.get(_list_url(account), headers=bearer(other)).status_code == 200  # its own budget
    session = APIClient()
    session.force_login(account.created_by)
    assert [session.get(_list_url(account)).status_code for _ in range(3)] == [200, 200, 429]


def test_device_endpoints_keep_their_own_throttle():
    from policy.api.views import DeviceAPIView

    assert DeviceAPIView.throttle_classes != [] and DeviceAPIView.authentication_classes == []
