"""URL-argument builders of the smartaccounts pages (see tests/isolation.py)."""

import secrets

from smartaccounts import services
from smartaccounts.models import User
from smartaccounts.tokens import email_confirmation_token, invitation_token
from tests.factories import make_user
from tests.isolation import builds


def _domain(tenant) -> str:
    return tenant.account.domain


@builds("account_id")
def account_id(tenant, va):
    return tenant.account.pk


@builds("va_id")
def va_id(tenant, va):
    return va.pk


@builds("member_id")
def member_id(tenant, va):
    """A person with a Viewer role on `va`; their name must never show to another tenant."""
    key = ("member", va.pk)
    if key not in tenant.cache:
        token = secrets.token_hex(3)
        member = make_user(f"member-{token}@{_domain(tenant)}", first_name="Mirabel", last_name=f"Member{token}")
        services.assign_role(actor=tenant.admin, user=member, role="viewer", virtual_account=va)
        tenant.remember(member.email, member.last_name)
        tenant.cache[key] = member.pk
    return tenant.cache[key]


def _invitation(tenant, va):
    key = ("invitation", va.pk)
    if key not in tenant.cache:
        email = f"invitee-{secrets.token_hex(3)}@{_domain(tenant)}"
        tenant.cache[key] = services.invite_user(actor=tenant.admin, email=email, role="viewer", virtual_account=va)
        tenant.remember(email)
    invitation = tenant.cache[key]
    invitation.refresh_from_db()
    return invitation


@builds("invitation_id")
def invitation_id(tenant, va):
    return _invitation(tenant, va).pk


@builds("invitation_token")
def invitation_token_(tenant, va):
    """The signed link of a pending invitation to `va` (it names the account to its invitee only)."""
    return invitation_token(_invitation(tenant, va))


@builds("request_id")
def request_id(tenant, va):
    """A pending access request by someone of the tenant's domain."""
    key = "access_request"
    if key not in tenant.cache:
        requester = make_user(f"asker-{secrets.token_hex(3)}@{_domain(tenant)}")
        tenant.cache[key] = services.request_access(requester=requester, smart_account=tenant.account, message="")
        tenant.remember(requester.email)
    return tenant.cache[key].pk


@builds("confirmation_token")
def confirmation_token(tenant, va):
    """The e-mail confirmation link of someone of the tenant's domain who signed up and has not confirmed yet."""
    key = "confirmation"
    if key not in tenant.cache:
        email = f"newcomer-{secrets.token_hex(3)}@{_domain(tenant)}"
        services.sign_up(email=email, first_name="Nia", last_name="Newcomer")
        tenant.cache[key] = User.objects.get(email=email)
    user = User.objects.get(pk=tenant.cache[key].pk)
    return email_confirmation_token(user)


@builds("api_client_id")
def api_client_id(tenant, va):
    """A live API client with the Viewer role on `va`; its name never shows to another tenant."""
    key = ("api_client", va.pk)
    if key not in tenant.cache:
        name = f"Script-{secrets.token_hex(3)}"
        client, _ = services.create_api_client(
            actor=tenant.admin, smart_account=tenant.account, name=name, role="viewer", virtual_account=va
        )
        tenant.remember(name, client.client_id)
        tenant.cache[key] = client.pk
    return tenant.cache[key]
