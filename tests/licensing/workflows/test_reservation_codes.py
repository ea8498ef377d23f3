"""The request, authorization and return code formats, and the device simulator and verifier commands."""

import json

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from licensing import reservation_codes as codes
from policy import signing


def test_a_request_code_is_parsed_into_its_parts():
    request = codes.parse_request_code("CE-ZC9300-48P-4X:XDC240312LB5-A6rZG7jGd-DD")
    assert (request.prefix, request.pid, request.serial_number, request.nonce) == (
        "CE",
        "C9300-48P-4X",
        "XDC240312LB5",
        "A6rZG7jGd",
    )
    assert request.udi == "PID:C9300-48P-4X SN:XDC240312LB5"


def test_the_check_is_the_first_two_hex_digits_of_the_sha256_of_the_rest():
    assert codes.check_characters("CE-ZC9300-48P-4X:XDC240312LB5-A6rZG7jGd") == "DD"
    assert codes.parse_request_code("CE-ZC9300-48P-4X:XDC240312LB5-A6rZG7jGd-dd").text.endswith("-dd")


def test_the_documented_example_request_code_is_accepted_whatever_its_check_characters():
    # Devices compute the check with an algorithm of their own: the portal checks its form only.
    parsed = codes.parse_request_code("CE-ZC9300-48P-4X:XDC240312LB5-A6rZG7jGd-75")
    assert (parsed.prefix, parsed.pid, parsed.serial_number, parsed.nonce) == (
        "CE",
        "C9300-48P-4X",
        "XDC240312LB5",
        "A6rZG7jGd",
    )


def test_line_breaks_and_spaces_pasted_into_a_code_are_ignored():
    assert codes.parse_request_code("  CE-ZC9300-48P-4X:XDC2403\n12LB5-A6rZG7jGd-DD \n").serial_number == "XDC240312LB5"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Enter the request code the device printed."),
        ("hello world", "That is not a valid request code."),
        ("CE-C9300-48P-4X:XDC240312LB5-A6rZG7jGd-DD", "That is not a valid request code."),  # no Z
        ("CE-ZC9300-48P-4X-XDC240312LB5-A6rZG7jGd-DD", "That is not a valid request code."),  # no colon
        ("CE-ZC9300-48P-4X:XDC240312LB5-A6rZ-DD", "That is not a valid request code."),  # nonce too short
        ("CE-ZC9300-48P-4X:XDC240312LB5-A6rZG7jGd-7", "That is not a valid request code."),  # one check char
        ("CE-ZC9300-48P-4X:XDC240312LB5-A6rZG7jGd-7#", "That is not a valid request code."),
        ("C" * 300, "too long for a request code"),
    ],
)
def test_malformed_request_codes_are_refused_with_what_is_wrong(text, message):
    with pytest.raises(ValidationError, match=message):
        codes.parse_request_code(text)


def test_made_request_codes_always_parse_and_differ_by_nonce():
    first = codes.make_request_code(pid="ISR4451-X/K9", serial_number="FTX1234ABCD")
    second = codes.make_request_code(pid="ISR4451-X/K9", serial_number="FTX1234ABCD")
    assert first != second
    assert codes.parse_request_code(first).pid == "ISR4451-X/K9"


def test_a_return_code_answers_exactly_one_authorization_code():
    code = codes.make_return_code(pid="C9300-48P-4X", serial_number="FOC1", signature="sig-A")
    assert code.startswith("RT-ZC9300-48P-4X:FOC1-")
    assert codes.return_code_matches(code, pid="C9300-48P-4X", serial_number="FOC1", signature="sig-A")
    assert not codes.return_code_matches(code, pid="C9300-48P-4X", serial_number="FOC1", signature="sig-B")
    assert not codes.return_code_matches(code, pid="C9300-48P-4X", serial_number="FOC2", signature="sig-A")
    assert codes.describe_return_code_problem(code) is None
    assert "not a return code" in codes.describe_return_code_problem("CE-ZC9300:FOC1-abcdefgh-00")
    typo = code[:-4] + ("A" if code[-4] != "A" else "B") + code[-3:]
    assert "check characters" in codes.describe_return_code_problem(typo)


def _signed(payload):
    return codes.build_authorization(payload, signing.sign(codes.canonical(payload)))


def test_an_authorization_code_verifies_with_the_public_key_and_not_when_changed():
    payload = {"reservation": 1, "sequence": 1, "udi": {"pid": "C9300-48P-4X", "serial_number": "FOC1"}, "licenses": []}
    text = _signed(payload)
    assert codes.verify_authorization(text, public_key_pem=signing.public_key_pem()) == payload
    tampered = json.loads(text)
    tampered["payload"]["sequence"] = 2
    with pytest.raises(ValidationError, match="signature does not verify"):
        codes.verify_authorization(json.dumps(tampered))
    with pytest.raises(ValidationError, match="not a JSON document"):
        codes.verify_authorization("not json")
    with pytest.raises(ValidationError, match="needs the format"):
        codes.verify_authorization(json.dumps({"payload": payload}))


def test_the_simulator_prints_valid_request_codes(capsys):
    call_command("simulate_device", "request", "--pid", "C9300-48P-4X", "--serial", "XDC240312LB5",
                 "--nonce", "A6rZG7jGd")  # fmt: skip
    assert capsys.readouterr().out.strip() == "CE-ZC9300-48P-4X:XDC240312LB5-A6rZG7jGd-DD"
    call_command("simulate_device", "request", "--count", "3")
    printed = capsys.readouterr().out.split()
    assert len(set(printed)) == 3
    for code in printed:
        codes.parse_request_code(code)
    with pytest.raises(CommandError, match="not a valid request code"):
        call_command("simulate_device", "request", "--pid", "bad pid")


def test_the_simulator_installs_and_returns_an_authorization_code(tmp_path, capsys):
    payload = {
        "reservation": 7,
        "sequence": 2,
        "udi": {"pid": "C9300-48P-4X", "serial_number": "FOC9"},
        "licenses": [{"tag": "t", "name": "DNA Advantage", "count": 2}],
    }
    path = tmp_path / "authorization.json"
    path.write_text(_signed(payload))
    call_command("simulate_device", "install", str(path), "--pid", "C9300-48P-4X", "--serial", "FOC9")
    assert "Installed authorization code 2 on PID:C9300-48P-4X SN:FOC9: 2 × DNA Advantage" in capsys.readouterr().out
    with pytest.raises(CommandError, match="it is for serial number FOC9, and this device's is FOC8"):
        call_command("simulate_device", "install", str(path), "--serial", "FOC8")
    call_command("simulate_device", "return", str(path))
    code = capsys.readouterr().out.strip()
    signature = json.loads(path.read_text())["signature"]
    assert codes.return_code_matches(code, pid="C9300-48P-4X", serial_number="FOC9", signature=signature)
    path.write_text(path.read_text().replace('"sequence": 2', '"sequence": 3'))
    with pytest.raises(CommandError, match="The device refuses the code"):
        call_command("simulate_device", "return", str(path))


def test_verify_authorization_checks_a_file_offline_with_a_published_key(tmp_path, capsys):
    payload = {"reservation": 3, "sequence": 1, "type": "specific",
               "udi": {"pid": "C9300-48P-4X", "serial_number": "FOC3"}, "licenses": []}  # fmt: skip
    path = tmp_path / "code.json"
    path.write_text(_signed(payload))
    key = tmp_path / "signing-key.pem"
    key.write_text(signing.public_key_pem())
    call_command("verify_authorization", str(path), "--public-key", str(key), "--pid", "C9300-48P-4X")
    out = capsys.readouterr().out
    assert "valid signature" in out and "PID:C9300-48P-4X SN:FOC3" in out
    with pytest.raises(CommandError, match="not FOC4"):
        call_command("verify_authorization", str(path), "--serial", "FOC4")
    other_key = tmp_path / "other.pem"
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    other_key.write_bytes(
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(CommandError, match="NOT VALID"):
        call_command("verify_authorization", str(path), "--public-key", str(other_key))
    with pytest.raises(CommandError, match="no such file"):
        call_command("verify_authorization", str(tmp_path / "missing.json"))
