"""The wire formats: the canonical form, the documented example and its shell recipes, ACK verification."""

import base64
import json
import re
import shutil
import subprocess

import pytest

from policy import signing
from policy.formats import Refusal, canonical_bytes, check_schema, hmac_signature, parse_notice, signature_matches
from tests.conftest import REPO

# The report format and its recipes (docs/reporting.md) and the device endpoints' examples (docs/device-api.md).
SECTION = (REPO / "docs" / "reporting.md").read_text() + "\n" + (REPO / "docs" / "device-api.md").read_text()
EXAMPLE_TRUST_CODE = re.search(r"signed with the trust code `([0-9a-f]{64})`", SECTION).group(1)
EXAMPLE = json.loads(SECTION.split("signed with the trust code", 1)[1].split("```json\n", 1)[1].split("```", 1)[0])
needs_tools = pytest.mark.skipif(not (shutil.which("jq") and shutil.which("openssl")), reason="jq and openssl needed")


def test_the_canonical_form_sorts_keys_everywhere_drops_whitespace_and_the_signature_and_keeps_utf8():
    document = {"b": {"z": 1, "a": [{"y": "é", "x": 2}]}, "a": "ü", "signature": "ignored"}
    assert canonical_bytes(document) == '{"a":"ü","b":{"a":[{"x":2,"y":"é"}],"z":1}}'.encode()


def test_the_readme_example_matches_the_schema_and_its_signature():
    check_schema(EXAMPLE)
    assert signature_matches(EXAMPLE, EXAMPLE_TRUST_CODE)
    assert not signature_matches({**EXAMPLE, "hostname": "other"}, EXAMPLE_TRUST_CODE)


def test_the_readme_change_notice_matches_its_schema():
    block = SECTION.split("cat > notice.json <<'JSON'\n", 1)[1].split("JSON\n", 1)[0]
    document = json.loads(block)
    document["signature"] = hmac_signature(document, EXAMPLE_TRUST_CODE)
    assert parse_notice(document).changes[0].to_value == "2"


def test_the_schema_names_the_path_of_an_error():
    bad = json.loads(json.dumps(EXAMPLE))
    bad["events"][0]["to_version"] = ""
    with pytest.raises(Refusal, match=r"\$\.events\[0\]\.to_version"):
        check_schema(bad)


@needs_tools
def test_the_readme_shell_recipe_signs_like_the_portal(tmp_path):
    (tmp_path / "report.json").write_text(json.dumps(EXAMPLE, indent=4))
    recipe = SECTION.split("In a shell, with `jq` and `openssl`:\n\n```sh\n", 1)[1].split("```", 1)[0]
    subprocess.run(["bash", "-euo", "pipefail", "-c", recipe], cwd=tmp_path, check=True,
                   env={"PATH": "/usr/bin:/bin", "TRUST_CODE": EXAMPLE_TRUST_CODE})  # fmt: skip
    signed = json.loads((tmp_path / "signed.json").read_text())
    assert signed["signature"] == EXAMPLE["signature"]


@needs_tools
def test_an_ack_verifies_with_the_public_key_and_the_readme_openssl_recipe(tmp_path, db):
    ack = {
        "type": "usage_report_ack",
        "ack_id": "c1d6a0e2-5b8f-4f7a-9d3c-0e2b4a6c8d10",
        "next_report_due": None,
        "udi": {"pid": "C9300-48P", "serial_number": "FOC2412X0AB"},
        "policy": {"name": "Défaut", "version": 3},
    }
    ack["signature"] = signing.sign(canonical_bytes(ack))
    (tmp_path / "ack.json").write_text(json.dumps(ack, indent=2, ensure_ascii=False))
    (tmp_path / "signing-key.pem").write_text(signing.public_key_pem())
    recipe = SECTION.split("curl -sS http://127.0.0.1:8000/signing-key.pem > signing-key.pem\n", 1)[1].split("```", 1)[
        0
    ]
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", recipe], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0 and "Signature Verified Successfully" in result.stdout, result.stderr
    ack["policy"]["version"] = 4
    (tmp_path / "ack.json").write_text(json.dumps(ack))
    assert subprocess.run(["bash", "-c", recipe], cwd=tmp_path, capture_output=True).returncode != 0
    assert not signing.verify(canonical_bytes(ack), ack["signature"]) and base64.b64decode(ack["signature"])


def test_the_readme_python_snippets_sign_and_verify(tmp_path, db, monkeypatch):
    signer = SECTION.split("In Python:\n\n```python\n", 1)[1].split("```", 1)[0]
    namespace = {}
    exec(signer, namespace)  # noqa: S102 - the documented snippet, run as written
    assert namespace["sign"](EXAMPLE, EXAMPLE_TRUST_CODE)["signature"] == EXAMPLE["signature"]
    verifier = SECTION.split("Check an ACK:\n\n```python\n", 1)[1].split("```", 1)[0]
    ack = {"type": "usage_report_ack", "ack_id": "x", "policy": {"name": "Default", "version": 1}}
    ack["signature"] = signing.sign(canonical_bytes(ack))
    (tmp_path / "ack.json").write_text(json.dumps(ack))
    (tmp_path / "signing-key.pem").write_text(signing.public_key_pem())
    monkeypatch.chdir(tmp_path)
    exec(verifier, {})  # noqa: S102 - raises InvalidSignature if the snippet were wrong


# --- The compiled schema check agrees with jsonschema ---------------------------------------------------


def _mutations(document):
    """Documents near `document`: every value replaced by wrong types and edge values, keys dropped and added."""
    odd = [None, True, 0, 1.0, 1.5, -1, 10**12, "", "x" * 300, "2026-01-01T00:00:00", [], {}, "ZZ"]
    if isinstance(document, str):
        # Near misses of patterns, formats and lengths.
        yield from (document + " ", "-" + document, document.upper(), document[:-1], document + "é", document * 9)
        yield from (document.replace("Z", "+01:00"), document.replace("T", " "), document.replace("-", "", 1))
        return
    if isinstance(document, dict):
        for key, value in document.items():
            for replacement in odd + list(_mutations(value)):
                yield {**document, key: replacement}
            yield {k: v for k, v in document.items() if k != key}
        yield {**document, "unexpected": 1}
    elif isinstance(document, list):
        yield []
        yield document * 2
        for i, value in enumerate(document):
            for replacement in odd[:6] + list(_mutations(value))[:40]:
                yield [*document[:i], replacement, *document[i + 1 :]]


@pytest.mark.parametrize("schema_name", ["usage-report.schema.json", "change-notice.schema.json"])
def test_the_compiled_schema_check_gives_jsonschemas_answer_on_valid_and_broken_documents(schema_name):
    from policy import formats

    compiled, validator = formats._compiled(schema_name), formats._validator(schema_name)
    assert compiled is not None  # both schemas use only keywords the compiler implements
    if schema_name == formats.REPORT_SCHEMA:
        base = json.loads(json.dumps(EXAMPLE))
        base["events"].append(
            {"type": "feature_change", "at": "2026-05-20T22:15:00Z", "entitlement_tag": "t", "from_count": 1,
             "to_count": 2.0}
        )  # fmt: skip
    else:
        base = json.loads(SECTION.split("cat > notice.json <<'JSON'\n", 1)[1].split("JSON\n", 1)[0])
        base["changes"].append(
            {
                "type": "software_upgrade",
                "at": "2026-06-19T16:30:00Z",
                "from_version": "17.9.4",
                "to_version": "17.12.1",
            }
        )
        base["signature"] = "0" * 64
    documents = [base, *_mutations(base)]
    assert len(documents) > 200
    disagreements = [d for d in documents if compiled(d) != validator.is_valid(d)]
    assert disagreements == []
    assert any(not compiled(d) for d in documents) and compiled(base)


def test_a_schema_with_a_keyword_the_compiler_lacks_falls_back_to_jsonschema():
    from policy.schemacheck import Unsupported, compile_schema

    with pytest.raises(Unsupported):
        compile_schema({"type": "object", "patternProperties": {"^x": {"type": "string"}}})
    check = compile_schema({"type": "integer", "minimum": 0, "description": "annotations are ignored"})
    assert check(3) and check(3.0) and not check(True) and not check(-1) and not check("3")
