"""`import_paks FILE.csv`: the documented format, line-numbered errors, all or nothing, idempotent."""

import pytest
from django.core.management import CommandError, call_command

from licensing.models import Pak, PakLine
from smartaccounts.models import Event
from tests.factories import make_account

from .helpers import make_license, make_sku

pytestmark = pytest.mark.django_db


@pytest.fixture
def skus():
    make_sku(make_license("Catalyst 9300 DNA Advantage"), "C9300-DNA-A-48")
    make_sku(make_license("ISR 4000 Security"), "SL-4330-SEC-K9")


def write(tmp_path, text):
    path = tmp_path / "paks.csv"
    path.write_text(text)
    return str(path)


GOOD = """pak_number,sku,quantity,owner_domain
3PAK-0001-2026,C9300-DNA-A-48,10,acme.example.com
3PAK-0001-2026,SL-4330-SEC-K9,2,acme.example.com
3PAK-0002-2026,C9300-DNA-A-48,5,
"""


def test_a_file_loads_paks_with_their_lines_and_owners(tmp_path, skus, account, capsys):
    call_command("import_paks", write(tmp_path, GOOD), "--no-progress")
    assert "loaded 2 PAKs with 3 lines; 0 already loaded" in capsys.readouterr().out
    owned = Pak.objects.get(number="3PAK-0001-2026")
    assert owned.owner == account
    assert sorted(owned.lines.values_list("sku__code", "quantity", "converted_quantity")) == [
        ("C9300-DNA-A-48", 10, 0),
        ("SL-4330-SEC-K9", 2, 0),
    ]
    assert Pak.objects.get(number="3PAK-0002-2026").owner is None
    event = Event.objects.get(smart_account=account, action="pak.loaded")
    assert "3PAK-0001-2026" in event.message


def test_loading_the_same_file_again_changes_nothing(tmp_path, skus, account, capsys):
    path = write(tmp_path, GOOD)
    call_command("import_paks", path, "--no-progress")
    call_command("import_paks", path, "--no-progress")
    assert "loaded 0 PAKs with 0 lines; 2 already loaded" in capsys.readouterr().out.splitlines()[-1]
    assert Pak.objects.count() == 2 and PakLine.objects.count() == 3


def test_every_bad_row_is_reported_with_its_line_and_nothing_is_loaded(tmp_path, skus, account):
    text = """pak_number,sku,quantity,owner_domain
3PAK-0003-2026,C9300-DNA-A-48,4,
3PAK-0003-2026,NO-SUCH-SKU,1,
bad pak!,C9300-DNA-A-48,1,
3PAK-0004-2026,C9300-DNA-A-48,zero,
3PAK-0005-2026,C9300-DNA-A-48,1,unknown.example.org
3PAK-0003-2026,C9300-DNA-A-48,2,
3PAK-0006-2026,,1,
3PAK-0007-2026,C9300-DNA-A-48,1,acme.example.com
3PAK-0007-2026,SL-4330-SEC-K9,1,
"""
    with pytest.raises(CommandError) as refused:
        call_command("import_paks", write(tmp_path, text), "--no-progress")
    message = str(refused.value)
    assert "nothing was loaded" in message
    for expected in (
        "line 3: there is no SKU NO-SUCH-SKU in the catalog.",
        "line 4: “bad pak!” is not a PAK number",
        "line 5: quantity “zero” is not a whole number above 0.",
        "line 6: no Customer or Limited Use account has the domain identifier “unknown.example.org”.",
        "line 7: PAK 3PAK-0003-2026 lists SKU C9300-DNA-A-48 twice (also on line 2).",
        "line 8: the sku column is empty.",
        "line 10: PAK 3PAK-0007-2026 names the owner “(none)” but line 9 named “acme.example.com”",
    ):
        assert expected in message
    assert not Pak.objects.exists()


def test_a_loaded_pak_is_not_changed_by_an_import(tmp_path, skus, account):
    call_command("import_paks", write(tmp_path, GOOD), "--no-progress")
    changed = GOOD.replace("3PAK-0002-2026,C9300-DNA-A-48,5,", "3PAK-0002-2026,C9300-DNA-A-48,6,")
    with pytest.raises(CommandError, match=r"line 4: PAK 3PAK-0002-2026 is already loaded with different lines"):
        call_command("import_paks", write(tmp_path, changed), "--no-progress")
    other = make_account(name="Initech", domain="initech.example.com")
    moved = GOOD.replace("acme.example.com", other.domain)
    with pytest.raises(CommandError, match="PAK 3PAK-0001-2026 is already loaded for another account"):
        call_command("import_paks", write(tmp_path, moved), "--no-progress")
    assert PakLine.objects.get(pak__number="3PAK-0002-2026").quantity == 5


def test_partner_holding_accounts_cannot_own_paks(tmp_path, skus):
    partner = make_account(kind="partner_holding", domain="holding.partner.example.com")
    text = f"pak_number,sku,quantity,owner_domain\n3PAK-0009-2026,C9300-DNA-A-48,1,{partner.domain}\n"
    with pytest.raises(CommandError, match="no Customer or Limited Use account has the domain identifier"):
        call_command("import_paks", write(tmp_path, text), "--no-progress")


def test_the_header_must_name_the_documented_columns(tmp_path, skus):
    with pytest.raises(CommandError, match="line 1: missing column.s. quantity. unknown column.s. qty"):
        call_command("import_paks", write(tmp_path, "pak_number,sku,qty\nX,Y,1\n"), "--no-progress")
    with pytest.raises(CommandError, match="no such file"):
        call_command("import_paks", str(tmp_path / "missing.csv"))
    with pytest.raises(CommandError, match="no PAK lines"):
        call_command("import_paks", write(tmp_path, "pak_number,sku,quantity\n"), "--no-progress")


def test_a_progress_bar_is_drawn(tmp_path, skus, account, capsys):
    call_command("import_paks", write(tmp_path, GOOD))
    assert "PAK lines" in capsys.readouterr().err
