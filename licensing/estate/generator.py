"""A large, realistic estate for `generate_estate` and the benchmarks, written with COPY (PostgreSQL only).

One large customer account (2,000 VAs up to 6 levels deep, 300 licenses, 200,000 product
instances, 1,000,000 usage measurements, a spread of reports, pending changes, shortages and
expiring terms) plus 50 small accounts. Every derived number is consistent with its source:
lots with their DEPOSIT ledger entries, balances with lots and usage, so `verify_ledger` is
clean on a generated estate. Reporting statuses and alerts come from running the real
`evaluate_reporting_deadlines` at the end.
"""

from __future__ import annotations

import io
import random
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from licensing.models import (
    LedgerEntry,
    License,
    LicenseBalance,
    LicenseLot,
    Order,
    OrderLine,
    ProductInstance,
    ProductInstanceUsage,
    Sku,
)
from policy.models import Change, UsageMeasurement, UsageReport
from policy.partitions import ensure_partitions
from smartaccounts import services as sa_services
from smartaccounts.locks import NEW_TREE_LOCK, advisory_xact_lock
from smartaccounts.models import Event, SmartAccount, User, VirtualAccount

from .copy import CopyWriter, reserve_ids
from .spec import BENCH_PASSWORD, LARGE_DOMAIN, PRODUCTS, EstateResult, EstateSpec
from .tree import number_trees, shape_tree


@dataclass
class _Devices:
    """The product instances one account received, for the steps that follow them."""

    first_id: int
    usage: list[list[tuple[int, int]]] = field(default_factory=list)  # per instance: (license id, count)
    in_use: dict[tuple[int, int], int] = field(default_factory=lambda: defaultdict(int))  # (VA id, license id)


# Product instance columns set from a scratch table `t` (id, at) after the bulk writes.
LAST_REPORT_COLUMNS = (
    "last_report_at = t.at, last_report_received_at = t.at + interval '3 minutes', last_contact_at = t.at"
)
PENDING_CHANGE_COLUMNS = "pending_change_at = t.at"


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


class Generator:
    def __init__(self, spec: EstateSpec, seed: int = 42, progress: Callable[[str, int], None] | None = None):
        if connection.vendor != "postgresql":
            raise RuntimeError(
                "generate_estate writes with PostgreSQL COPY: set DATABASE_URL to a PostgreSQL database."
            )
        self.spec = spec
        self.rng = random.Random(seed)
        self.now = timezone.now().replace(microsecond=0)
        self.today = self.now.date()
        self.progress = progress or (lambda label, n: None)
        self.counts: dict[str, int] = defaultdict(int)

    # --- catalog -------------------------------------------------------------------------------
    def catalog(self) -> list[License]:
        from django.core.management import call_command

        call_command("load_catalog", verbosity=0)
        have = License.objects.count()
        families = [
            "Catalyst 9300",
            "Catalyst 9200",
            "ISR 4000",
            "ASR 1000",
            "Catalyst 8000",
            "Collaboration",
            "Security",
        ]
        extra = []
        for i in range(have, self.spec.licenses):
            roll = self.rng.random()
            enforcement = "export_controlled" if roll < 0.03 else "enforced" if roll < 0.08 else "unenforced"
            license_type = self.rng.choice(["perpetual", "perpetual", "term", "subscription"])
            extra.append(
                License(
                    name=f"Estate License {i + 1:03d}",
                    tag=f"regid.2026-01.com.example.ESTATE-{i + 1:03d},1.0_{_uuid(self.rng)}",
                    description="Generated for the benchmarks.",
                    product_family=self.rng.choice(families),
                    license_type=license_type,
                    enforcement=enforcement,
                )
            )
        License.objects.bulk_create(extra)
        licenses = list(License.objects.order_by("pk")[: self.spec.licenses])
        for lic in licenses:
            Sku.objects.get_or_create(
                code=f"EST-{lic.pk:05d}",
                defaults={
                    "license": lic,
                    "licenses_per_unit": 1,
                    "default_term_months": None if lic.license_type == "perpetual" else 36,
                },
            )
        self.skus = {s.license_id: s for s in Sku.objects.filter(code__startswith="EST-")}
        self.counts["licenses"] = len(licenses)
        return licenses

    # --- accounts, people ----------------------------------------------------------------------
    def user(self, email: str, **extra) -> User:
        user = User.objects.filter(email=email).first()
        return user or User.objects.create_user(email=email, password=BENCH_PASSWORD, **extra)

    def account(self, *, name: str, domain: str, admin: User) -> SmartAccount:
        return sa_services.create_smart_account(creator=admin, name=name, domain=domain, kind="customer")

    # --- the VA tree ---------------------------------------------------------------------------
    def tree(self, account: SmartAccount, count: int, max_depth: int, label: str) -> list[dict]:
        """`count` VAs besides the default one, in trees of at most `max_depth` levels, written by COPY."""
        default = VirtualAccount.objects.get(smart_account=account, is_default=True)
        nodes = shape_tree(self.rng, count, max_depth, label)
        first_id = reserve_ids(VirtualAccount, count)
        advisory_xact_lock(NEW_TREE_LOCK)
        with connection.cursor() as cursor:
            cursor.execute("SELECT COALESCE(MAX(tree_id), 0) FROM smartaccounts_virtualaccount")
            next_tree = cursor.fetchone()[0] + 1
        number_trees(nodes, first_id=first_id, first_tree_id=next_tree)
        writer = CopyWriter(VirtualAccount, ids=True)
        for n in nodes:
            writer.add(
                id=n["id"],
                smart_account_id=account.pk,
                parent_id=n["parent"]["id"] if n["parent"] else None,
                name=n["name"],
                description="",
                is_default=False,
                created_at=self.now - timedelta(days=400),
                deleted_at=None,
                lft=n["lft"],
                rght=n["rght"],
                tree_id=n["tree_id"],
                level=n["level"],
            )
        writer.flush()
        self.counts["virtual_accounts"] += count + 1
        return [{"id": default.pk, "level": 0, "children": [], "name": default.name}, *nodes]

    # --- holdings, devices, reports --------------------------------------------------------------
    def populate(
        self,
        account: SmartAccount,
        vas: list[dict],
        licenses: list[License],
        *,
        instances: int,
        measurements: int,
        events: int,
        admin: User,
        label: str,
    ) -> None:
        """Fill `account`'s VAs: devices and their usage, the orders and lots holding the licenses they use,
        usage reports, pending changes and the event log.

        The steps run in this order because each draws from the seeded random generator in turn: the same
        seed gives the same estate only while the order of the draws stays the same."""
        held = self._licenses_held(vas, licenses)
        devices = self._instances(account, vas, held, instances=instances, label=label)
        self._holdings(account, vas, licenses, held, devices.in_use, label=label)
        last_report = self._reports(devices, account_id=account.pk, instances=instances, measurements=measurements)
        pending = self._pending_changes(account, devices, instances=instances)
        self._update_instances("estate_last", last_report, LAST_REPORT_COLUMNS)
        self._update_instances("estate_pending", pending, PENDING_CHANGE_COLUMNS)
        self._events(account, vas, events=events, admin=admin)

    def _licenses_held(self, vas: list[dict], licenses: list[License]) -> dict[int, list[License]]:
        """Which licenses each VA holds (unenforced ones when there are enough); its devices use those."""
        perpetual_like = [lic for lic in licenses if lic.enforcement == "unenforced"]
        per_va = min(self.spec.licenses_per_va, len(licenses))
        pool = perpetual_like if len(perpetual_like) >= per_va else licenses
        return {va["id"]: self.rng.sample(pool, per_va) for va in vas}

    def _instances(
        self, account: SmartAccount, vas: list[dict], held: dict[int, list[License]], *, instances: int, label: str
    ) -> _Devices:
        """`instances` product instances and their license usage; leaves and deep VAs hold more than regions."""
        rng = self.rng
        weights = [1 + 3 * va["level"] for va in vas]
        va_of_instance = rng.choices([va["id"] for va in vas], weights=weights, k=instances)
        devices = _Devices(first_id=reserve_ids(ProductInstance, instances))
        instance_writer = CopyWriter(ProductInstance, ids=True)
        usage_writer = CopyWriter(ProductInstanceUsage)
        serial_prefix = label[:3].upper()
        for n in range(instances):
            pk = devices.first_id + n
            va_id = va_of_instance[n]
            pid, family, version = rng.choice(PRODUCTS)
            registered = self.now - timedelta(days=rng.randint(20, 700), seconds=rng.randint(0, 86399))
            counts = self._usage(held[va_id])
            for lic_id, count in counts:
                devices.in_use[(va_id, lic_id)] += count
            devices.usage.append(counts)
            instance_writer.add(
                id=pk,
                smart_account_id=account.pk,
                virtual_account_id=va_id,
                pid=pid,
                serial_number=f"{serial_prefix}{account.pk:03d}{n:08d}",
                hostname=f"{label.lower()}-{family.split()[-1].lower()}-{n:06d}",
                product_family=family,
                software_version=version,
                status="active",
                registered_at=registered,
                last_contact_at=registered,
                first_use_at=registered,
                trust_code=f"{rng.getrandbits(128):032x}",
                trust_code_issued_at=registered,
            )
            for lic_id, count in counts:
                usage_writer.add(
                    product_instance_id=pk,
                    smart_account_id=account.pk,
                    license_id=lic_id,
                    count=count,
                    updated_at=registered,
                )
            if n % 20000 == 0:
                self.progress("instances", n)
        instance_writer.flush()
        usage_writer.flush()
        self.counts["product_instances"] += instances
        self.counts["usage_rows"] += usage_writer.written
        return devices

    def _usage(self, held: list[License]) -> list[tuple[int, int]]:
        """(license id, count) for one device: 1-5 of its VA's licenses, collaboration ones by the 10, 25 or 50."""
        uses = self.rng.sample(held, self.rng.choice([1, 2, 3, 3, 4, 5]))
        return [(lic.pk, self.rng.choice([10, 25, 50]) if lic.product_family == "Collaboration" else 1) for lic in uses]

    def _holdings(
        self,
        account: SmartAccount,
        vas: list[dict],
        licenses: list[License],
        held: dict[int, list[License]],
        in_use: dict[tuple[int, int], int],
        *,
        label: str,
    ) -> None:
        """An order per VA; per (VA, license) held or used an order line, a lot, its DEPOSIT entry and the
        balance: about a quarter of the pairs short of licenses, a tenth of the term lots ending within 90 days."""
        pairs = sorted({(va["id"], lic.pk) for va in vas for lic in held[va["id"]]} | set(in_use))
        first_order = reserve_ids(Order, len(vas))
        first_line = reserve_ids(OrderLine, len(pairs))
        first_lot = reserve_ids(LicenseLot, len(pairs))
        order_of_va = self._orders(account, vas, first_order, label=label)
        line_writer = CopyWriter(OrderLine, ids=True)
        lot_writer = CopyWriter(LicenseLot, ids=True)
        entry_writer = CopyWriter(LedgerEntry)
        balance_writer = CopyWriter(LicenseBalance)
        license_by_id = {lic.pk: lic for lic in licenses}
        line_numbers: dict[int, int] = defaultdict(int)
        deposited = self.now - timedelta(days=419)
        for i, (va_id, lic_id) in enumerate(pairs):
            used = in_use.get((va_id, lic_id), 0)
            purchased = self._purchased(used)
            start, end = self._term(license_by_id[lic_id])
            order_id = order_of_va[va_id]
            line_numbers[order_id] += 1
            line_id, lot_id = first_line + i, first_lot + i
            line_writer.add(
                id=line_id,
                order_id=order_id,
                smart_account_id=account.pk,
                line_number=line_numbers[order_id],
                sku_id=self.skus[lic_id].pk,
                quantity=purchased,
                term_start=start,
                term_end=end,
            )
            where = {"smart_account_id": account.pk, "virtual_account_id": va_id, "license_id": lic_id}
            lot_writer.add(
                id=lot_id,
                **where,
                in_transit_id=None,
                quantity=purchased,
                start_date=start,
                end_date=end,
                order_line_id=line_id,
                created_at=deposited,
            )
            entry_writer.add(
                created_at=deposited,
                kind="deposit",
                movement=_uuid(self.rng),
                **where,
                lot_id=lot_id,
                quantity=purchased,
                actor_id=None,
                order_line_id=line_id,
                note="",
            )
            balance_writer.add(**where, purchased=purchased, in_use=used, reserved=0)
        for w in (line_writer, lot_writer, entry_writer, balance_writer):
            w.flush()
        # Balances written in bulk bypass the ledger: derive the per-account license totals from them.
        from licensing.ledger import rebuild_account_totals

        rebuild_account_totals(smart_account_ids=[account.pk])
        self.counts["license_lots"] += len(pairs)
        self.counts["balances"] += len(pairs)

    def _orders(self, account: SmartAccount, vas: list[dict], first_order: int, *, label: str) -> dict[int, int]:
        """One deposited order per VA, numbered from `first_order`; returns {VA id: order id}."""
        writer = CopyWriter(Order, ids=True)
        order_of_va = {}
        for i, va in enumerate(vas):
            order_of_va[va["id"]] = first_order + i
            writer.add(
                id=first_order + i,
                number=f"{label.upper()}-SO-{account.pk:03d}-{i:05d}",
                ordered_by="Megadistributor Inc",
                end_customer=account.name,
                smart_account_id=account.pk,
                virtual_account_id=va["id"],
                status="deposited",
                created_at=self.now - timedelta(days=420),
                deposited_at=self.now - timedelta(days=419),
            )
        writer.flush()
        return order_of_va

    def _purchased(self, used: int) -> int:
        """Licenses bought where `used` are in use: a quarter of the time fewer (a shortage), else some spare."""
        rng = self.rng
        short = rng.random() < 0.25
        if short and used:
            return max(1, int(used * rng.uniform(0.6, 0.95)))
        return int(used * rng.uniform(1.05, 1.8)) + rng.randint(1, 20)

    def _term(self, lic: License) -> tuple[date | None, date | None]:
        """A lot's term: none for perpetual licenses; else started in the past, one in ten ending within 90 days."""
        if lic.license_type == "perpetual":
            return None, None
        rng = self.rng
        start = self.today - timedelta(days=rng.randint(30, 900))
        end = (
            self.today + timedelta(days=rng.randint(1, 90))
            if rng.random() < 0.1
            else start + timedelta(days=365 * 3 + rng.randint(0, 400))
        )
        if end <= self.today:
            end = self.today + timedelta(days=rng.randint(1, 90))
        return start, end

    def _reports(self, devices: _Devices, *, account_id: int, instances: int, measurements: int) -> dict[int, datetime]:
        """Usage reports: four devices in five report, 1-4 times, with a measurement per used license per
        report; the last one from yesterday to 400 days ago, so deadlines spread over OK, due soon and
        overdue. Returns {instance id: its last report's time}."""
        rng = self.rng
        report_writer = CopyWriter(UsageReport, ids=True)
        measurement_writer = CopyWriter(UsageMeasurement)
        per_report = sum(len(u) for u in devices.usage) / max(1, instances)
        reports_needed = int(measurements / max(per_report, 1))
        reporters = rng.sample(range(instances), min(instances, int(instances * 0.8)))
        reports_per = max(1, round(reports_needed / max(1, len(reporters))))
        # The month partitions of the oldest report to the newest (PostgreSQL; none needed elsewhere).
        ensure_partitions(since=self.now - timedelta(days=400 + reports_per * 90 + 1))
        report_pk = reserve_ids(UsageReport, len(reporters) * (reports_per + 1))
        last_report: dict[int, datetime] = {}
        for k, n in enumerate(reporters):
            pk = devices.first_id + n
            count = max(1, min(reports_per + rng.choice([-1, 0, 0, 1]), reports_per + 1))
            last = self.now - timedelta(days=rng.randint(1, 400), seconds=rng.randint(0, 86399))
            for r in range(count):
                generated = last - timedelta(days=(count - 1 - r) * rng.randint(20, 90))
                report_id = _uuid(rng)
                report_writer.add(
                    id=report_pk,
                    report_id=report_id,
                    product_instance_id=pk,
                    source="device",
                    actor_id=None,
                    generated_at=generated,
                    received_at=generated + timedelta(minutes=3),
                    signed=True,
                    software_version="",
                    payload={"report_id": str(report_id)},
                    acknowledgement_id=None,
                    smart_account_id=account_id,
                )
                for lic_id, c in devices.usage[n]:
                    measurement_writer.add(
                        report_id=report_pk,
                        product_instance_id=pk,
                        smart_account_id=account_id,
                        received_at=generated + timedelta(minutes=3),
                        license_id=lic_id,
                        count=c,
                        start=generated - timedelta(days=1),
                        end=generated,
                    )
                report_pk += 1
            last_report[pk] = last
            if k % 20000 == 0:
                self.progress("reports", k)
        report_writer.flush()
        measurement_writer.flush()
        self.counts["usage_reports"] += report_writer.written
        self.counts["usage_measurements"] += measurement_writer.written
        return last_report

    def _pending_changes(self, account: SmartAccount, devices: _Devices, *, instances: int) -> dict[int, datetime]:
        """One device in fifty upgraded since its last report (a pending change); returns {instance id: when}."""
        writer = CopyWriter(Change)
        pending = {}
        for n in self.rng.sample(range(instances), max(1, instances // 50)):
            pk = devices.first_id + n
            at = self.now - timedelta(days=self.rng.randint(1, 120))
            pending[pk] = at
            writer.add(
                product_instance_id=pk,
                smart_account_id=account.pk,
                kind="software_upgrade",
                occurred_at=at,
                from_value="17.9.4",
                to_value="17.12.1",
                license_id=None,
                noticed_at=at,
                report_id=None,
                reported_at=None,
                late=False,
            )
        writer.flush()
        self.counts["pending_changes"] += len(pending)
        return pending

    def _update_instances(self, scratch: str, times: dict[int, datetime], assignments: str) -> None:
        """Set product instance columns from {instance id: time} in one UPDATE (`assignments` reads the time
        as `t.at`); the times go in by COPY, into a scratch table dropped afterwards."""
        if not times:
            return
        table = connection.ops.quote_name(ProductInstance._meta.db_table)
        rows = "".join(f"{pk}\t{at.isoformat()}\n" for pk, at in times.items())
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE TEMP TABLE {scratch} (id bigint PRIMARY KEY, at timestamptz) ON COMMIT DROP")
            cursor.cursor.copy_expert(f"COPY {scratch} (id, at) FROM STDIN", io.StringIO(rows))
            cursor.execute(f"UPDATE {table} p SET {assignments} FROM {scratch} t WHERE p.id = t.id")
            cursor.execute(f"DROP TABLE {scratch}")

    def _events(self, account: SmartAccount, vas: list[dict], *, events: int, admin: User) -> None:
        """The event log: the account's history, spread over its VAs and the last year."""
        writer = CopyWriter(Event)
        actions = [
            ("license.transferred", "moved licenses"),
            ("instance.registered", "registered a device"),
            ("token.created", "created a registration token"),
            ("va.renamed", "renamed a Virtual Account"),
        ]
        for _ in range(events):
            va = self.rng.choice(vas)
            action, words = self.rng.choice(actions)
            writer.add(
                created_at=self.now - timedelta(minutes=self.rng.randint(1, 525600)),
                actor_id=admin.pk,
                smart_account_id=account.pk,
                virtual_account_id=va["id"],
                virtual_account_name=va["name"],
                action=action,
                message=f"{admin.email} {words} in {va['name']}.",
                details={},
            )
        writer.flush()
        self.counts["events"] += events

    def extend(self, instances: int) -> int:
        """Add an account with `instances` more product instances (the evaluation's larger tier)."""
        with transaction.atomic():
            licenses = self.catalog()
            domain = "scale-test.example.com"
            admin = self.user(f"admin@{domain}", first_name="Scale", last_name="Admin")
            account = self.account(name="Scale Test Corp", domain=domain, admin=admin)
            vas = self.tree(account, 99, 4, "Scale")
            self.populate(
                account,
                vas,
                licenses,
                instances=instances,
                measurements=instances,
                events=100,
                admin=admin,
                label="Scale",
            )
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        return account.pk


def generate(spec: EstateSpec, *, seed: int = 42, progress=None) -> EstateResult:
    gen = Generator(spec, seed=seed, progress=progress)
    if SmartAccount.objects.filter(domain=LARGE_DOMAIN).exists():
        raise RuntimeError(f"An estate is already here ({LARGE_DOMAIN}): generate into an empty database.")
    with transaction.atomic():
        licenses = gen.catalog()
        admin = gen.user(f"admin@{LARGE_DOMAIN}", first_name="Estate", last_name="Admin")
        account = gen.account(name="Megacorp Global", domain=LARGE_DOMAIN, admin=admin)
        vas = gen.tree(account, spec.vas - 1, spec.max_depth, "Mega")
        progress and progress("virtual accounts", len(vas))
        gen.populate(
            account,
            vas,
            licenses,
            instances=spec.instances,
            measurements=spec.measurements,
            events=spec.events,
            admin=admin,
            label="Mega",
        )
        # A VA-scoped User: the widest region's subtree (permission resolution benchmark).
        region = (
            VirtualAccount.objects.filter(smart_account=account, parent__isnull=True, is_default=False)
            .order_by("-rght")
            .first()
        )
        va_user = gen.user(f"region-user@{LARGE_DOMAIN}", first_name="Region", last_name="User")
        sa_services.assign_role(actor=admin, user=va_user, role="user", virtual_account=region)
        small_ids = []
        for i in range(spec.small_accounts):
            domain = f"small{i + 1:02d}.example.org"
            small_admin = gen.user(f"admin@{domain}", first_name="Small", last_name=f"Admin {i + 1}")
            small = gen.account(name=f"Small Business {i + 1:02d}", domain=domain, admin=small_admin)
            small_vas = gen.tree(small, spec.small_vas - 1, 3, f"S{i + 1:02d}")
            gen.populate(
                small,
                small_vas,
                licenses[: max(10, len(licenses) // 10)],
                instances=spec.small_instances,
                measurements=spec.small_instances * 4,
                events=100,
                admin=small_admin,
                label=f"S{i + 1:02d}",
            )
            small_ids.append(small.pk)
            progress and progress("small accounts", i + 1)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return EstateResult(
        large_account_id=account.pk,
        small_account_ids=small_ids,
        admin_email=admin.email,
        va_user_email=va_user.email,
        va_user_va_id=region.pk,
        counts=dict(gen.counts),
    )
