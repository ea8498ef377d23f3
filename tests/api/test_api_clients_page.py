"""The *API clients* page, the native endpoints, the admin and the command: the same services everywhere."""

from __future__ import annotations

import pytest
from django.contrib.admin.sites import site
from django.core.management import CommandError, call_command
from django.urls import reverse
from oauth2_provider.models import Application
from rest_framework.test import APIClient

from smartaccounts import selectors, services
from smartaccounts.models import ApiClient, Event, User
from tests.api.helpers import bearer, get_token, make_api_client
from tests.factories import account_admin, grant, make_account, make_staff, make_user, make_va

pytestmark = pytest.mark.django_db


def test_page_creates_a_client_and_shows_the_secret_once(client):
    account = make_account()
    va = make_va(account, "Lab")
    client.force_login(account.created_by)
    url = reverse("api_clients", args=[account.pk])
    response = client.post(url, {"name": "Inventory", "role": "user", "scope": va.pk})
    assert response.status_code == 200
    created = ApiClient.objects.get(name="Inventory")
    secret = response.context["secret"]
    assert secret and secret.isalnum() and len(secret) >= 40
    html = response.content.decode()
    assert secret in html and created.client_id in html
    assert response["Cache-Control"].startswith("max-age=0") or "no-store" in response["Cache-Control"]
    assert (created.role, created.virtual_account, created.smart_account) == ("user", va, account)
    page = client.get(url).content.decode()
    assert created.client_id in page and secret not in page  # never shown again
    assert get_token(client, created.client_id, secret)


def test_page_refuses_a_duplicate_name_and_writes_nothing(client):
    account = make_account()
    make_api_client(account, "viewer", name="Inventory")
    client.force_login(account.created_by)
    response = client.post(reverse("api_clients", args=[account.pk]), {"name": " inventory ", "role": "user"})
    assert response.status_code == 200
    assert "already has an API client called" in response.content.decode()
    assert ApiClient.objects.count() == 1 and Application.objects.count() == 1


def test_page_revokes_and_the_name_is_free_again(client):
    account = make_account()
    api_client, _ = make_api_client(account, "viewer", name="Inventory")
    client.force_login(account.created_by)
    response = client.post(reverse("api_client_revoke", args=[account.pk, api_client.pk]))
    assert response.status_code == 302
    api_client.refresh_from_db()
    assert api_client.is_revoked and not api_client.service_user.is_active
    assert Event.objects.filter(action="api_client.revoked", details__name="Inventory").exists()
    again = client.post(reverse("api_client_revoke", args=[account.pk, api_client.pk]), follow=True)
    assert "already revoked" in again.content.decode()
    make_api_client(account, "viewer", name="Inventory")


def test_list_query_count_does_not_grow(client, django_assert_max_num_queries):
    account = make_account()
    client.force_login(account.created_by)
    url = reverse("api_clients", args=[account.pk])
    make_api_client(account, "viewer")
    with django_assert_max_num_queries(40) as first:
        client.get(url)
    for _ in range(6):
        make_api_client(account, "user", virtual_account=make_va(account, f"VA {_}"))
    with django_assert_max_num_queries(len(first.captured_queries)):
        assert client.get(url).status_code == 200


def test_api_list_query_count_does_not_grow(django_assert_max_num_queries):
    account = make_account()
    api = APIClient()
    api.force_login(account.created_by)
    url = reverse("api_api_clients", args=[account.pk])
    make_api_client(account, "viewer")
    with django_assert_max_num_queries(30) as first:
        api.get(url)
    for n in range(6):
        make_api_client(account, "user", virtual_account=make_va(account, f"VA {n}"))
    with django_assert_max_num_queries(len(first.captured_queries)):
        response = api.get(url)
    assert len(response.json()["results"]) == 7


def test_service_identities_are_not_people():
    account = make_account()
    api_client, _ = make_api_client(account, "admin")
    service = api_client.service_user
    assert service.email not in [m.user.email for m in selectors.members_of(account)]
    assert selectors.account_admin_count(account) == 1
    assert selectors.member_count(account) == 1
    # the last person who is an Admin stays one: the client does not count
    with pytest.raises(Exception, match="last Admin"):
        services.revoke_role(actor=account.created_by, user=account.created_by, smart_account=account)
    with pytest.raises(Exception, match="API client"):
        services.invite_user(actor=account.created_by, email=service.email, role="viewer", smart_account=account)
    assert account_admin(account) == account.created_by
    assert not service.has_usable_password()


def test_only_account_admins_create_clients():
    account = make_account()
    va = make_va(account, "Lab")
    va_admin = grant(make_user(), "admin", va=va)
    user = grant(make_user(), "user", account=account)
    for actor in (va_admin, user, make_user()):
        with pytest.raises(Exception, match="Admin"):
            services.create_api_client(actor=actor, smart_account=account, name="X", role="viewer")
    other = make_account()
    with pytest.raises(Exception, match="Virtual Account"):
        services.create_api_client(
            actor=account.created_by,
            smart_account=account,
            name="X",
            role="viewer",
            virtual_account=make_va(other, "O"),
        )
    with pytest.raises(Exception, match="Admin, User or Viewer"):
        services.create_api_client(actor=account.created_by, smart_account=account, name="X", role="owner")
    assert not ApiClient.objects.exists() and not User.objects.filter(email__endswith="api-clients.invalid").exists()


def test_api_create_answers_201_with_the_secret_once_and_revoke():
    account = make_account()
    api = APIClient()
    api.force_login(account.created_by)
    url = reverse("api_api_clients", args=[account.pk])
    response = api.post(url, {"name": "CI", "role": "viewer"}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["client_secret"].isalnum() and body["status"] == "active"
    listed = api.get(url).json()["results"]
    assert [c["client_id"] for c in listed] == [body["client_id"]] and "client_secret" not in listed[0]
    bad = api.post(url, {"name": "CI", "role": "viewer"}, format="json")
    assert bad.status_code == 400 and bad.json()["fields"]["name"]
    revoke = api.post(reverse("api_api_client_revoke", args=[account.pk, body["id"]]))
    assert revoke.status_code == 200 and revoke.json()["status"] == "revoked"
    other = make_account()
    foreign, _ = make_api_client(other, "viewer")
    assert api.post(reverse("api_api_client_revoke", args=[account.pk, foreign.pk])).status_code == 404


def test_a_clients_token_is_limited_to_its_role():
    account = make_account()
    viewer_client, secret = make_api_client(account, "viewer")
    token = get_token(APIClient(), viewer_client.client_id, secret)
    url = reverse("api_api_clients", args=[account.pk])
    assert APIClient().get(url, headers=bearer(token)).status_code == 403
    other = make_account()
    assert APIClient().get(reverse("api_api_clients", args=[other.pk]), headers=bearer(token)).status_code == 404


def test_command_prints_id_and_secret(capsys):
    account = make_account()
    va = make_va(account, "Lab")
    call_command(
        "create_api_client",
        "--account",
        account.domain.upper(),
        "--name",
        "Provisioning",
        "--role",
        "user",
        "--virtual-account",
        "lab",
        "--client-id",
        "provisioning-01",
        "--client-secret",
        "S3cretS3cretS3cretS3cret",
    )
    out = capsys.readouterr().out.splitlines()
    assert "client_id=provisioning-01" in out and "client_secret=S3cretS3cretS3cretS3cret" in out
    created = ApiClient.objects.get(application__client_id="provisioning-01")
    assert (created.virtual_account, created.role) == (va, "user")
    assert get_token(APIClient(), "provisioning-01", "S3cretS3cretS3cretS3cret")


@pytest.mark.parametrize(
    "args,message",
    [
        (["--account", "nope.example.com", "--name", "X", "--role", "admin"], "No Smart Account"),
        (["--name", "X", "--role", "boss"], "role"),
        (["--name", "X", "--role", "admin", "--virtual-account", "Nowhere"], "Virtual Account"),
        (["--name", "X", "--role", "admin", "--client-secret", "short"], "secret"),
        (["--name", "X", "--role", "admin", "--client-id", "a b"], "client id"),
    ],
)
def test_command_refuses_bad_input_and_writes_nothing(args, message):
    account = make_account()
    if "--account" not in args:
        args = ["--account", account.domain, *args]
    with pytest.raises(CommandError, match=message):
        call_command("create_api_client", *args)
    assert not ApiClient.objects.exists() and not Application.objects.exists()


def test_admin_creates_through_the_service_and_revokes(client):
    account = make_account()
    staff = make_staff(
        None, "smartaccounts.add_apiclient", "smartaccounts.change_apiclient", "smartaccounts.view_apiclient"
    )
    client.force_login(staff)
    response = client.post(
        reverse("admin:smartaccounts_apiclient_add"),
        {"name": "Support script", "smart_account": account.pk, "role": "viewer", "virtual_account": ""},
    )
    assert response.status_code == 200, response.content.decode()[:3000]
    created = ApiClient.objects.get(name="Support script")
    assert created.created_by == staff
    shown = response.content.decode()
    assert "shown only once" in shown and created.client_id in shown
    assert Event.objects.get(action="api_client.created").actor == staff
    changelist = reverse("admin:smartaccounts_apiclient_changelist")
    assert account.name in client.get(changelist + "?q=Support").content.decode()
    client.post(changelist, {"action": "revoke_clients", "_selected_action": [created.pk]})
    created.refresh_from_db()
    assert created.is_revoked
    assert site._registry[ApiClient].has_delete_permission(None) is False


def test_a_va_with_a_live_client_is_not_deleted_until_the_client_is_revoked():
    account = make_account()
    va = make_va(account, "Lab")
    api_client, _ = make_api_client(account, "viewer", virtual_account=va)
    with pytest.raises(Exception, match="1 API client"):
        services.delete_virtual_account(actor=account.created_by, virtual_account=va)
    services.revoke_api_client(actor=account.created_by, api_client=api_client)
    services.delete_virtual_account(actor=account.created_by, virtual_account=va)
