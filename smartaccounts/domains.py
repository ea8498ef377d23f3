"""Domain rules for account identifiers."""

from functools import cache
from pathlib import Path

PUBLIC_DOMAINS_FILE = Path(__file__).parent / "data" / "public_email_domains.txt"
PUBLIC_SUFFIXES_FILE = Path(__file__).parent / "data" / "public_suffixes.txt"


def _read_list(path: Path) -> frozenset[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line.strip() and not line.startswith("#"))


@cache
def public_email_domains() -> frozenset[str]:
    return _read_list(PUBLIC_DOMAINS_FILE)


@cache
def public_suffixes() -> frozenset[str]:
    return _read_list(PUBLIC_SUFFIXES_FILE)


def is_public_suffix(domain: str) -> bool:
    """`co.uk`, `com.au`: a registry suffix no company owns (single labels such as `com` are always one)."""
    domain = domain.lower().strip(".")
    return "." not in domain or domain in public_suffixes()


def is_public_email_domain(domain: str) -> bool:
    """True for a public provider or any domain under one (mail.gmail.com)."""
    domain = domain.lower().strip(".")
    public = public_email_domains()
    labels = domain.split(".")
    return any(".".join(labels[i:]) in public for i in range(len(labels)))


def is_same_or_parent_domain(candidate: str, email_domain: str) -> bool:
    """`acme.com` is the same as or a parent of `eng.acme.com`; `com` alone is never accepted."""
    candidate = candidate.lower().strip(".")
    email_domain = email_domain.lower().strip(".")
    if is_public_suffix(candidate):
        return False
    return email_domain == candidate or email_domain.endswith("." + candidate)


def is_valid_domain_name(domain: str) -> bool:
    labels = domain.lower().split(".")
    if len(labels) < 2 or len(domain) > 253:
        return False
    allowed = set("abcdefghijklmnopqrstuvwxyz0123456789-")
    return all(
        0 < len(label) <= 63 and set(label) <= allowed and label[0] != "-" and label[-1] != "-" for label in labels
    )
