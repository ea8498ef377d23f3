"""The portal's Ed25519 key: it signs ACKs and reservation authorization codes.

The private key lives at settings.PORTAL_SIGNING_KEY_PATH (outside the repository); it is
created on first use, readable by its owner only. Anyone can verify a signature offline with
the published public key (`public_key_pem()`, also served at /signing-key.pem).
"""

from __future__ import annotations

import base64
import os
import threading
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings

_lock = threading.Lock()
_cache: dict[str, Ed25519PrivateKey] = {}


def _key_path() -> Path:
    return Path(settings.PORTAL_SIGNING_KEY_PATH)


def get_private_key() -> Ed25519PrivateKey:
    """Load the key, creating it (mode 0600) the first time. Safe when several processes start at once."""
    path = _key_path()
    cached = _cache.get(str(path))
    if cached is not None:
        return cached
    with _lock:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            key = Ed25519PrivateKey.generate()
            pem = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass  # another process made it first: use theirs
            else:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(pem)
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{path} does not hold an Ed25519 private key.")
        _cache[str(path)] = key
        return key


def public_key_pem() -> str:
    return (
        get_private_key()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )


def sign(data: bytes) -> str:
    """The Ed25519 signature of `data`, base64-encoded."""
    return base64.b64encode(get_private_key().sign(data)).decode("ascii")


def verify(data: bytes, signature_b64: str, public_key_pem: str | None = None) -> bool:
    """True when `signature_b64` is a signature of `data` by the portal's key (or the given public key)."""
    if public_key_pem is None:
        public_key = get_private_key().public_key()
    else:
        public_key = serialization.load_pem_public_key(public_key_pem.encode("ascii"))
        if not isinstance(public_key, Ed25519PublicKey):
            return False
    try:
        public_key.verify(base64.b64decode(signature_b64, validate=True), data)
    except (InvalidSignature, ValueError):
        return False
    return True
