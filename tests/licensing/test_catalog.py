"""The catalog: the shipped file, `load_catalog`, and its idempotency."""

import re

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command

from licensing.models import License, Sku
from licensing.services import load_catalog, read_catalog_file

from .helpers import make_order

pytestmark = pytest.mark.django_db

TAG = re.compile(r"^regid\.\d{4}-\d{2}\.com\.cisco\.[A-Za-z0-9_]+,\d+\.\d+_[0-9a-f-]{36}$")


def test_the_shipped_catalog_is_realistic_and_complete():
    result = load_catalog(data=read_catalog_file())
    assert result.licenses_created >= 40
    licenses = License.objects.all()
    assert licenses.values("product_family").distinct().count() >= 5
    assert all(TAG.match(lic.tag) for lic in licenses), [lic.tag for lic in licenses if not TAG.match(lic.tag)]
    names = set(licenses.values_list("name", flat=True))
    for expected in (
        "Catalyst 9300 Network Essentials",
        "Catalyst 9300 Network Advantage",
        "Catalyst 9300 48-port DNA Essentials",
        "Catalyst 9300 48-port DNA Advantage",
        "ISR 4000 Security (HSECK9)",
        "Unified CM Enhanced User",
        "Collaboration Flex Plan Named User",
        "Catalyst 9800 DNA Advantage AP",
    ):
        assert expected in names
    assert licenses.filter(enforcement="export_controlled").exists()
    assert licenses.filter(enforcement="enforced").exists()
    assert {"perpetual", "term", "subscription", "demo"} <= set(licenses.values_list("license_type", flat=True))
    # Every term, subscription and demo license can be ordered with a default term.
    for sku in Sku.objects.select_related("license"):
        assert sku.licenses_per_unit >= 1
        assert (sku.default_term_months is not None) == sku.license.is_time_bound, sku.code
    assert Sku.objects.filter(licenses_per_unit__gt=1).exists()


def test_loading_the_catalog_twice_changes_nothing(capsys):
    call_command("load_catalog")
    counts = (License.objects.count(), Sku.objects.count())
    call_command("load_catalog")
    assert (License.objects.count(), Sku.objects.count()) == counts
    assert "licenses: 0 created, 0 updated; SKUs: 0 created, 0 updated" in capsys.readouterr().out


def test_a_changed_catalog_updates_licenses_by_tag_and_skus_by_code():
    data = {
        "licenses": [
            {"name": "Old name", "tag": "regid.2020-01.com.cisco.X,1.0_1", "product_family": "Test",
             "skus": [{"code": "X-1", "licenses_per_unit": 1}]}
        ]
    }  # fmt: skip
    load_catalog(data=data)
    data["licenses"][0]["name"] = "New name"
    data["licenses"][0]["skus"][0]["licenses_per_unit"] = 5
    result = load_catalog(data=data)
    assert (result.licenses_updated, result.skus_updated) == (1, 1)
    assert License.objects.get(tag="regid.2020-01.com.cisco.X,1.0_1").name == "New name"
    assert Sku.objects.get(code="X-1").licenses_per_unit == 5


def test_an_ordered_sku_cannot_move_to_another_license(account):
    base = [
        {"name": "A", "tag": "regid.2020-01.com.cisco.A,1.0_1", "product_family": "T", "skus": [{"code": "S-1"}]},
        {"name": "B", "tag": "regid.2020-01.com.cisco.B,1.0_1", "product_family": "T", "skus": []},
    ]
    load_catalog(data={"licenses": base})
    make_order(account, [(Sku.objects.get(code="S-1"), 1)])
    moved = [dict(base[0], skus=[]), dict(base[1], skus=[{"code": "S-1"}])]
    with pytest.raises(ValidationError, match="S-1 has been ordered as another license"):
        load_catalog(data={"licenses": moved})
    assert Sku.objects.get(code="S-1").license.tag == base[0]["tag"]


def test_a_bad_catalog_is_refused_whole_naming_the_license():
    data = {
        "licenses": [
            {"name": "Fine", "tag": "regid.2020-01.com.cisco.F,1.0_1", "product_family": "T", "skus": []},
            {"name": "Term without a term", "tag": "regid.2020-01.com.cisco.T,1.0_1", "product_family": "T",
             "license_type": "term", "skus": [{"code": "T-1"}]},
        ]
    }  # fmt: skip
    with pytest.raises(ValidationError, match=r"license 2 \(regid.2020-01.com.cisco.T,1.0_1\): SKU T-1 needs"):
        load_catalog(data=data)
    assert not License.objects.filter(tag="regid.2020-01.com.cisco.F,1.0_1").exists()
