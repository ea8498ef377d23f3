"""What the estate holds: its size (`EstateSpec`, scaled for smaller runs), logins and products."""

from __future__ import annotations

from dataclasses import dataclass, replace

BENCH_PASSWORD = "bench-password-2026"
LARGE_DOMAIN = "megacorp.example.com"

PRODUCTS = [
    ("C9300-48P", "Catalyst 9300", "17.9.4"),
    ("C9300-24T", "Catalyst 9300", "17.9.4"),
    ("C9200L-48P-4G", "Catalyst 9200", "17.6.5"),
    ("C9500-32C", "Catalyst 9500", "17.12.1"),
    ("ISR4451-X/K9", "ISR 4000", "17.9.3"),
    ("C1111-8P", "ISR 1000", "17.6.6"),
    ("ASR1001-HX", "ASR 1000", "17.12.2"),
    ("C8300-1N1S-6T", "Catalyst 8000", "17.12.2"),
    ("C9800-40-K9", "Catalyst 9800", "17.12.3"),
    ("FPR2130-NGFW-K9", "Secure Firewall", "7.4.1"),
]


@dataclass(frozen=True)
class EstateSpec:
    vas: int = 2000
    max_depth: int = 6
    licenses: int = 300
    licenses_per_va: int = 15
    instances: int = 200_000
    measurements: int = 1_000_000
    events: int = 50_000
    small_accounts: int = 50
    small_vas: int = 5
    small_instances: int = 200

    def scaled(self, scale: float) -> EstateSpec:
        def s(n: int, floor: int) -> int:
            return max(floor, int(round(n * scale)))

        return replace(
            self,
            vas=s(self.vas, 8),
            licenses=s(self.licenses, 20),
            instances=s(self.instances, 50),
            measurements=s(self.measurements, 200),
            events=s(self.events, 20),
            small_accounts=s(self.small_accounts, 2),
            small_instances=s(self.small_instances, 10),
        )


@dataclass
class EstateResult:
    large_account_id: int
    small_account_ids: list[int]
    admin_email: str
    va_user_email: str
    va_user_va_id: int
    counts: dict[str, int]
