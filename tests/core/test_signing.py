import stat

from policy import signing


def test_key_is_created_once_private_and_verifies_its_signatures(settings, tmp_path):
    settings.PORTAL_SIGNING_KEY_PATH = tmp_path / "keys" / "portal.pem"
    signature = signing.sign(b"hello")
    path = tmp_path / "keys" / "portal.pem"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert signing.verify(b"hello", signature)
    assert signing.verify(b"hello", signature, public_key_pem=signing.public_key_pem())
    assert not signing.verify(b"hellO", signature)
    assert not signing.verify(b"hello", "not-base64!")
    before = path.read_bytes()
    signing.sign(b"again")
    assert path.read_bytes() == before


def test_signature_does_not_verify_under_another_key(settings, tmp_path):
    settings.PORTAL_SIGNING_KEY_PATH = tmp_path / "a.pem"
    signature = signing.sign(b"data")
    settings.PORTAL_SIGNING_KEY_PATH = tmp_path / "b.pem"
    assert not signing.verify(b"data", signature)
