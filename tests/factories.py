"""Test data builders. Accounts and VAs are made through the services, as the product makes them."""

from __future__ import annotations

import itertools

import factory
import pytest

from smartaccounts import services as sa_services
from smartaccounts.models import Role, SmartAccount, User, VirtualAccount

PASSWORD = "correct-horse-battery-staple"
_seq = itertools.count(1)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@acme.example.com")
    first_name = "Test"
    last_name = factory.Sequence(lambda n: f"User{n}")
    password = factory.django.Password(PASSWORD)


def make_user(email: str | None = None, **kwargs) -> User:
    return UserFactory(**({"email": email} if email else {}), **kwargs)


def make_staff(email: str | None = None, *permissions: str, **kwargs) -> User:
    """A staff member (not a superuser) holding exactly `permissions` ("app_label.codename")."""
    from django.contrib.auth.models import Permission

    staff = make_user(email or f"staff{next(_seq)}@operator.example.net", is_staff=True, **kwargs)
    for permission in permissions:
        app_label, codename = permission.split(".")
        staff.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return User.objects.get(pk=staff.pk)  # a fresh object: the permission cache is empty


def make_account(
    *, admin: User | None = None, name: str | None = None, domain: str | None = None, kind: str = "customer"
) -> SmartAccount:
    """An active account (partner holding accounts are approved by a staff user) with its default VA."""
    n = next(_seq)
    if domain is None:
        domain = f"tenant{n}.example.com" if kind != "limited_use" else ""
    if admin is None:
        admin = make_user(f"admin{n}@{domain}" if kind != "limited_use" else f"owner{n}@gmail.com")
    account = sa_services.create_smart_account(creator=admin, name=name or f"Tenant {n} Inc", domain=domain, kind=kind)
    if account.status == SmartAccount.Status.PENDING:
        staff = make_staff(f"approver{n}@operator.example.net", "smartaccounts.change_smartaccount")
        sa_services.approve_smart_account(actor=staff, smart_account=account)
        account.refresh_from_db()
    return account


def account_admin(account: SmartAccount) -> User:
    return User.objects.get(smartaccountuserobjectpermission__content_object=account,
                            smartaccountuserobjectpermission__permission__codename=Role.ADMIN.codename,
                            api_client__isnull=True)  # fmt: skip


def make_va(account: SmartAccount, name: str, parent: VirtualAccount | None = None, actor: User | None = None):
    return sa_services.create_virtual_account(
        actor=actor or account.created_by, smart_account=account, name=name, parent=parent
    )


def default_va(account: SmartAccount) -> VirtualAccount:
    return VirtualAccount.objects.get(smart_account=account, is_default=True)


def grant(user: User, role: str, *, account: SmartAccount | None = None, va: VirtualAccount | None = None) -> User:
    scope_account = account or va.smart_account
    sa_services.assign_role(
        actor=scope_account.created_by, user=user, role=role, smart_account=account, virtual_account=va
    )
    return user


@pytest.fixture
def password() -> str:
    return PASSWORD


@pytest.fixture
def user(db) -> User:
    return make_user()


@pytest.fixture
def account(db) -> SmartAccount:
    return make_account(name="Acme Networks", domain="acme.example.com")


@pytest.fixture
def other_account(db) -> SmartAccount:
    """Another tenant: nothing of it may ever show to the first tenant's people."""
    return make_account(name="Globex Secret Holdings", domain="globex.example.org")
