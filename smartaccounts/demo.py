"""Demo data: people and accounts. Idempotent: each object is looked up before it is made.

`seed(demo)` makes, through the services (so every event is in the log):

- "Acme Networks" (customer, acme.example.com) with a three-level Virtual Account tree::

      DEFAULT (default)
      Engineering ── Campus Network ── Building 7 Lab
                  └─ Data Center
      Operations ── Branch Offices ── Berlin
                                   └─ Tokyo
      Finance

  and one person per role and scope: account Admin, User, Viewer; a User on Engineering and a
  Viewer on Branch Offices (VA roles reach the descendants); a pending access request and a
  pending invitation, so the Admin has something to decide; and the API client "Demo automation"
  (Admin on the whole account) with the fixed id and secret of `DEMO_API_CLIENT`, for the API examples.
- "Bob's Bike Repairs" (limited use, bob.bikes@gmail.com): only the default Virtual Account.
- "Globex Distribution" (partner holding, approved) and "Initech Resale Holding" (partner holding,
  still pending approval by staff).

`demo.objects` keys other demo modules use:

    "staff"                 the operator (superuser)
    "customer"              Acme Networks (SmartAccount)
    "customer_admin"        Admin on the whole account
    "customer_user"         User on the whole account
    "customer_viewer"       Viewer on the whole account
    "customer_va_user"      User on Engineering (and below)
    "customer_va_viewer"    Viewer on Branch Offices (and below)
    "customer_api_client"   the demo API client of Acme Networks (ApiClient)
    "vas"                   {name: VirtualAccount} of Acme Networks, e.g. vas["Building 7 Lab"], vas["DEFAULT"]
    "limited"               Bob's Bike Repairs (limited use);  "limited_owner" its Admin
    "partner"               Globex Distribution (approved partner holding);  "partner_admin" its Admin
    "partner_pending"       Initech Resale Holding (pending);  "partner_pending_admin" its Admin
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .models import AccessRequest, Invitation, SmartAccount, User, VirtualAccount

DEMO_PASSWORD = "demo-password-2026"
# The demo API client: fixed so that the API walk-through works on the demo data (never use it in production).
DEMO_API_CLIENT = {
    "name": "Demo automation",
    "client_id": "acme-demo-automation",
    "client_secret": "DemoSecretAcme2026ChangeMeInProduction",
}


@dataclass
class DemoContext:
    stdout: object
    style: object
    logins: list[tuple[str, str]] = field(default_factory=list)  # (e-mail, what they can do)
    api_clients: list[tuple[str, str, str]] = field(default_factory=list)  # (client id, secret, what it can do)
    objects: dict = field(default_factory=dict)  # shared between the demo modules

    def user(self, email: str, description: str, **extra) -> User:
        user = User.objects.filter(email__iexact=email).first()
        if user is None:
            first, _, last = extra.pop("name", "").partition(" ")
            user = User.objects.create_user(
                email=email, password=DEMO_PASSWORD, first_name=first, last_name=last, **extra
            )
        self.logins.append((email, description))
        return user

    def print_logins(self) -> None:
        width = max((len(email) for email, _ in self.logins), default=10)
        self.stdout.write(self.style.SUCCESS(f"\nDemo logins (password for all: {DEMO_PASSWORD})"))
        for email, description in self.logins:
            self.stdout.write(f"  {email.ljust(width)}  {description}")
        if self.api_clients:
            heading = "\nDemo API clients (POST /as/token.oauth2, grant client_credentials)"
            self.stdout.write(self.style.SUCCESS(heading))
            for client_id, secret, description in self.api_clients:
                self.stdout.write(f"  client_id={client_id}  client_secret={secret}  {description}")
        self.stdout.write("\nOpen http://127.0.0.1:8000/ and log in with one of them.\n")


# (name, parent name) in creation order: parents first.
ACME_TREE = [
    ("Engineering", None),
    ("Campus Network", "Engineering"),
    ("Building 7 Lab", "Campus Network"),
    ("Data Center", "Engineering"),
    ("Operations", None),
    ("Branch Offices", "Operations"),
    ("Berlin", "Branch Offices"),
    ("Tokyo", "Branch Offices"),
    ("Finance", None),
]


def _account(domain: str) -> SmartAccount | None:
    return SmartAccount.objects.filter(domain__iexact=domain).first()


def _ensure_account(*, creator: User, name: str, domain: str, kind: str) -> SmartAccount:
    from . import services

    return _account(domain if kind != SmartAccount.Kind.LIMITED_USE else creator.email) or (
        services.create_smart_account(creator=creator, name=name, domain=domain, kind=kind)
    )


def _ensure_va(account: SmartAccount, actor: User, name: str, parent: VirtualAccount | None) -> VirtualAccount:
    from . import services

    existing = VirtualAccount.objects.filter(smart_account=account, name__iexact=name, deleted_at__isnull=True).first()
    return existing or services.create_virtual_account(actor=actor, smart_account=account, name=name, parent=parent)


def seed(demo: DemoContext) -> None:
    """The operator, Acme Networks with its tree and people, Bob's limited use account and two partner
    holding accounts, in that order (other demo modules read them from `demo.objects`)."""
    staff = demo.user(
        "admin@operator.example.net",
        "staff: the Django admin at /admin/ (approve accounts, VA tree, roles)",
        is_staff=True,
        is_superuser=True,
        name="Olivia Operator",
    )
    demo.objects["staff"] = staff
    _seed_customer(demo)
    _seed_limited_use(demo)
    _seed_partners(demo, staff)


# One person per role and scope on Acme Networks: (e-mail, name, what they can do, role, VA or None).
ACME_PEOPLE = [
    ("ulrich.user@acme.example.com", "Ulrich User", "Acme Networks: User (whole account)", "user", None),
    ("vera.viewer@acme.example.com", "Vera Viewer", "Acme Networks: Viewer (whole account)", "viewer", None),
    ("eli.engineer@acme.example.com", "Eli Engineer", "Acme Networks: User on Engineering", "user", "Engineering"),
    (
        "bianca.branch@acme.example.com",
        "Bianca Branch",
        "Acme Networks: Viewer on Branch Offices",
        "viewer",
        "Branch Offices",
    ),
]


def _seed_customer(demo: DemoContext) -> None:
    """Acme Networks: a customer with a three-level tree, every role, an access request and an invitation."""
    from . import services

    admin = demo.user("alice.admin@acme.example.com", "Acme Networks: Admin (whole account)", name="Alice Admin")
    account = _ensure_account(creator=admin, name="Acme Networks", domain="acme.example.com", kind="customer")
    vas = {"DEFAULT": VirtualAccount.objects.get(smart_account=account, is_default=True)}
    for name, parent in ACME_TREE:
        vas[name] = _ensure_va(account, admin, name, vas[parent] if parent else None)
    if not account.headquarters_address:
        services.update_account_properties(
            actor=admin,
            smart_account=account,
            name=account.name,
            headquarters_address="1 Acme Way\nSpringfield, OR 97477\nUnited States",
            visibility=account.visibility,
        )
    made = {}
    for email, name, description, role, va_name in ACME_PEOPLE:
        person = demo.user(email, description, name=name)
        services.assign_role(
            actor=admin,
            user=person,
            role=role,
            smart_account=None if va_name else account,
            virtual_account=vas[va_name] if va_name else None,
        )
        made[email] = person
    _seed_customer_requests(demo, account, admin, vas)
    demo.objects["customer_api_client"] = _seed_api_client(demo, account, admin)
    demo.objects.update(
        customer=account,
        customer_admin=admin,
        customer_user=made["ulrich.user@acme.example.com"],
        customer_viewer=made["vera.viewer@acme.example.com"],
        customer_va_user=made["eli.engineer@acme.example.com"],
        customer_va_viewer=made["bianca.branch@acme.example.com"],
        vas=vas,
    )


def _seed_api_client(demo: DemoContext, account: SmartAccount, admin: User):
    """The demo API client (Admin on the whole account) with its fixed id and secret."""
    from . import services
    from .models import ApiClient

    spec = DEMO_API_CLIENT
    api_client = ApiClient.objects.filter(application__client_id=spec["client_id"]).first()
    if api_client is None:
        api_client, _ = services.create_api_client(
            actor=admin,
            smart_account=account,
            name=spec["name"],
            role="admin",
            client_id=spec["client_id"],
            client_secret=spec["client_secret"],
        )
    demo.api_clients.append(
        (spec["client_id"], spec["client_secret"], f"{account.name}: {api_client.get_role_display()} (whole account)")
    )
    return api_client


def _seed_customer_requests(
    demo: DemoContext, account: SmartAccount, admin: User, vas: dict[str, VirtualAccount]
) -> None:
    """Something for Acme's Admin to decide: a newcomer's access request and a pending invitation."""
    from . import services

    newcomer = demo.user(
        "dave.newhire@acme.example.com", "Acme Networks: no role yet, asked for access", name="Dave Newhire"
    )
    if not AccessRequest.objects.filter(requester=newcomer, smart_account=account).exists():
        services.request_access(requester=newcomer, smart_account=account, message="I joined the network team.")
    if not Invitation.objects.filter(email="erin.contractor@acme.example.com", smart_account=account).exists():
        services.invite_user(
            actor=admin, email="erin.contractor@acme.example.com", role="viewer", virtual_account=vas["Data Center"]
        )


def _seed_limited_use(demo: DemoContext) -> None:
    """Bob's Bike Repairs: a limited use account (a public e-mail domain), only its default VA."""
    owner = demo.user("bob.bikes@gmail.com", "Bob's Bike Repairs: Admin (limited use)", name="Bob Bikes")
    limited = _ensure_account(creator=owner, name="Bob's Bike Repairs", domain="", kind="limited_use")
    demo.objects.update(limited=limited, limited_owner=owner)


def _seed_partners(demo: DemoContext, staff: User) -> None:
    """Partner holding accounts: Globex Distribution approved by staff, Initech Resale Holding still pending."""
    from . import services

    partner_admin = demo.user(
        "paula.partner@globex.example.net", "Globex Distribution: Admin (partner holding)", name="Paula Partner"
    )
    partner = _ensure_account(
        creator=partner_admin, name="Globex Distribution", domain="globex.example.net", kind="partner_holding"
    )
    if partner.status == SmartAccount.Status.PENDING:
        services.approve_smart_account(actor=staff, smart_account=partner)
        partner.refresh_from_db()
    pending_admin = demo.user(
        "ivan.reseller@initech.example.org",
        "Initech Resale Holding: Admin (partner holding, pending approval)",
        name="Ivan Reseller",
    )
    pending = _ensure_account(
        creator=pending_admin, name="Initech Resale Holding", domain="initech.example.org", kind="partner_holding"
    )
    demo.objects.update(
        partner=partner, partner_admin=partner_admin, partner_pending=pending, partner_pending_admin=pending_admin
    )
