"""Licensing services: the catalog of licenses and the SKUs ordered to get them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import transaction

from policy.deadlines import refresh_reporting_deadlines
from smartaccounts.documents import item_lines, parse_json, read_text_file

from ..models import License, ProductInstanceUsage, Sku

__all__ = [
    "CATALOG_FILE",
    "CatalogResult",
    "license_class_changed",
    "load_catalog",
    "read_catalog",
    "read_catalog_file",
]

CATALOG_FILE = Path(__file__).resolve().parent.parent / "data" / "catalog.json"

LICENSE_FIELDS = ("name", "description", "product_family", "license_type", "enforcement", "billing")
SKU_FIELDS = ("description", "licenses_per_unit", "default_term_months")
# The fields a license's class (`License.policy_class`, what the reporting rules go by) is made of.
CLASS_FIELDS = ("license_type", "enforcement")


@dataclass
class CatalogResult:
    licenses_created: int = 0
    licenses_updated: int = 0
    skus_created: int = 0
    skus_updated: int = 0

    @property
    def changed(self) -> bool:
        return any((self.licenses_created, self.licenses_updated, self.skus_created, self.skus_updated))

    def __str__(self) -> str:
        return (
            f"licenses: {self.licenses_created} created, {self.licenses_updated} updated; "
            f"SKUs: {self.skus_created} created, {self.skus_updated} updated"
        )


def read_catalog(path: str | Path = CATALOG_FILE) -> tuple[dict, list[int]]:
    """A catalog file's data and the line each license entry starts on; a ValidationError naming the line
    for a file that is not UTF-8 JSON (or is nested too deep, or holds NUL). FileNotFoundError as usual."""
    text = read_text_file(path)
    return parse_json(text, name=str(path)), item_lines(text, "licenses")


def read_catalog_file(path: str | Path = CATALOG_FILE) -> dict:
    return read_catalog(path)[0]


def _where(index: int, item: dict, lines: list[int] | None) -> str:
    line = f"line {lines[index]}: " if lines and index < len(lines) else ""
    label = next((v for v in (item.get("tag"), item.get("name")) if isinstance(v, str) and v), "no tag")
    return f"{line}license {index + 1} ({label})"


# What each field of a catalog entry may be (JSON types); anything else is refused before it is looked at.
_LICENSE_TYPES = {**dict.fromkeys(("tag", *LICENSE_FIELDS), (str,)), "skus": (list,)}
_SKU_TYPES = {"code": (str,), "description": (str,), "licenses_per_unit": (int,), "default_term_months": (int,)}


def _shape_problem(item, types: dict) -> str | None:
    if not isinstance(item, dict):
        return "is not a JSON object"
    for field, allowed in types.items():
        value = item.get(field)
        if value is not None and (not isinstance(value, allowed) or isinstance(value, bool)):
            kind = "a list" if list in allowed else "text" if str in allowed else "a whole number"
            return f"{field} must be {kind}"
    return None


@transaction.atomic
def load_catalog(*, data: dict, lines: list[int] | None = None) -> CatalogResult:
    """Create or update licenses (by entitlement tag) and SKUs (by code) from catalog data. Idempotent.

    Loading the same data again changes nothing. A SKU never moves to another license once it
    has been ordered: the lots of those orders would change meaning. Any error refuses the whole load.
    `lines`: the line each license entry starts on in its file (`read_catalog`), for the messages.
    A license whose type or enforcement changes may change the reporting rule of the devices using it:
    their deadlines are set again in the same transaction.
    """
    items = data.get("licenses") if isinstance(data, dict) else None
    if not isinstance(items, list) or not items:
        raise ValidationError("The catalog has no “licenses” list.")
    for index, item in enumerate(items):
        problem = _shape_problem(item, _LICENSE_TYPES)
        sku_problems = [
            f"SKU {n + 1} {p}"
            for n, sku in enumerate(item.get("skus") or [] if isinstance(item, dict) and not problem else [])
            if (p := _shape_problem(sku, _SKU_TYPES))
        ]
        if problem or sku_problems:
            where = _where(index, item if isinstance(item, dict) else {}, lines)
            raise ValidationError(f"{where}: {problem or sku_problems[0]}.")
    result = CatalogResult()
    seen_tags: set[str] = set()
    seen_codes: set[str] = set()
    existing = {lic.tag: lic for lic in License.objects.filter(tag__in=[i.get("tag") for i in items if i.get("tag")])}
    codes = [s.get("code") for i in items for s in (i.get("skus") or [])]
    existing_skus = {sku.code: sku for sku in Sku.objects.filter(code__in=[c for c in codes if c])}
    reclassified = []
    for index, item in enumerate(items):
        where = _where(index, item, lines)
        tag = (item.get("tag") or "").strip()
        if not tag:
            raise ValidationError(f"{where}: the entitlement tag is missing.")
        if tag in seen_tags:
            raise ValidationError(f"{where}: the entitlement tag appears twice in the catalog.")
        seen_tags.add(tag)
        values = {field: item.get(field, "") for field in LICENSE_FIELDS}
        for field, default in (("license_type", "perpetual"), ("enforcement", "unenforced"), ("billing", "prepaid")):
            values[field] = values[field] or default
        license = existing.get(tag)
        if license is None:
            license = License(tag=tag, **values)
            _clean(license, where)
            license.save()
            result.licenses_created += 1
        elif any(getattr(license, f) != v for f, v in values.items()):
            if any(getattr(license, f) != values[f] for f in CLASS_FIELDS):
                reclassified.append(license.pk)
            for field, value in values.items():
                setattr(license, field, value)
            _clean(license, where)
            license.save(update_fields=list(LICENSE_FIELDS))
            result.licenses_updated += 1
        for sku_item in item.get("skus") or []:
            _load_sku(sku_item, license, where, existing_skus, seen_codes, result)
    license_class_changed(license_ids=reclassified)
    return result


def license_class_changed(*, license_ids: list[int]) -> None:
    """Set again the reporting deadlines of the devices using these licenses, whose type or enforcement
    (the license class the reporting rules go by) changed."""
    if license_ids:
        users = ProductInstanceUsage.objects.filter(license_id__in=license_ids, count__gt=0)
        refresh_reporting_deadlines(instance_ids=set(users.values_list("product_instance_id", flat=True)))


def _load_sku(item: dict, license: License, where: str, existing: dict, seen: set, result: CatalogResult) -> None:
    code = (item.get("code") or "").strip()
    if not code:
        raise ValidationError(f"{where}: a SKU has no code.")
    if code in seen:
        raise ValidationError(f"{where}: SKU {code} appears twice in the catalog.")
    seen.add(code)
    values = {
        "description": item.get("description", ""),
        "licenses_per_unit": item.get("licenses_per_unit") or 1,
        "default_term_months": item.get("default_term_months"),
    }
    if license.is_time_bound and not values["default_term_months"]:
        raise ValidationError(f"{where}: SKU {code} needs default_term_months (the license is {license.license_type}).")
    sku = existing.get(code)
    if sku is None:
        sku = Sku(code=code, license=license, **values)
        _clean(sku, f"{where}, SKU {code}")
        sku.save()
        result.skus_created += 1
        return
    if sku.license_id != license.pk and sku.order_lines.exists():
        raise ValidationError(
            f"{where}: SKU {code} has been ordered as another license; it cannot move to {license.tag}."
        )
    if sku.license_id != license.pk or any(getattr(sku, f) != v for f, v in values.items()):
        sku.license = license
        for field, value in values.items():
            setattr(sku, field, value)
        _clean(sku, f"{where}, SKU {code}")
        sku.save(update_fields=["license", *SKU_FIELDS])
        result.skus_updated += 1


def _clean(obj, where: str) -> None:
    try:
        obj.full_clean(validate_unique=False)
    except ValidationError as error:
        details = "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in error.message_dict.items())
        raise ValidationError(f"{where}: {details}") from None
