"""Demo data: people and accounts. Idempotent: each object is looked up before it is made."""

from __future__ import annotations

from dataclasses import dataclass, field

from .models import User

DEMO_PASSWORD = "demo-password-2026"


@dataclass
class DemoContext:
    stdout: object
    style: object
    logins: list[tuple[str, str]] = field(default_factory=list)  # (e-mail, what they can do)
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
        self.stdout.write("\nOpen http://127.0.0.1:8000/ and log in with one of them.\n")


def seed(demo: DemoContext) -> None:
    demo.user(
        "admin@operator.example.net",
        "staff: the Django admin at /admin/",
        is_staff=True,
        is_superuser=True,
        name="Olivia Operator",
    )
