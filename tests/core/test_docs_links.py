"""The README and docs/*.md: every relative link reaches a file and heading that exist, every reference page is
linked from the README, and the limits the documentation states are the code's."""

import re
import unicodedata
from pathlib import Path

import pytest

from licensing import limits
from licensing.services.instances import TOKEN_MAX_USES
from tests.conftest import REPO

DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(r"(?<!!)\[(?P<text>[^\]]*)\]\((?P<target>[^)\s]+)\)")
INLINE_CODE = re.compile(r"`[^`]*`")


def prose_lines(path: Path) -> list[tuple[int, str]]:
    """The lines outside fenced code blocks, inline code removed, with their numbers."""
    lines, fenced = [], False
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            lines.append((number, INLINE_CODE.sub("", line)))
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower().replace("`", "")
    kept = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in "LN")
    return kept.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    fenced = False
    for line in path.read_text().splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        match = re.match(r"#{1,6} (.+)", line)
        if fenced or not match:
            continue
        base = slug(match.group(1))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def relative_links():
    for path in DOCUMENTS:
        for number, line in prose_lines(path):
            for match in LINK.finditer(line):
                target = match.group("target")
                if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
                    continue
                yield pytest.param(path, number, target, id=f"{path.relative_to(REPO)}:{number}:{target}")


@pytest.mark.parametrize(("path", "number", "target"), list(relative_links()))
def test_every_relative_link_reaches_an_existing_file_and_heading(path, number, target):
    file_part, _, anchor = target.partition("#")
    linked = (path.parent / file_part).resolve() if file_part else path
    assert linked.exists(), f"{path.relative_to(REPO)}:{number}: {target} names no file"
    if anchor:
        assert linked.suffix == ".md", f"{path.relative_to(REPO)}:{number}: an anchor into {file_part}"
        assert anchor in anchors(linked), (
            f"{path.relative_to(REPO)}:{number}: {linked.name} has no heading #{anchor} "
            f"(it has {sorted(anchors(linked))})"
        )


def test_the_heading_anchors_follow_githubs_rules():
    assert slug("CI: `.ci/run`") == "ci-cirun"
    assert slug("Sign-up, invitations and access requests") == "sign-up-invitations-and-access-requests"
    assert slug("License reservations (SLR and PLR)") == "license-reservations-slr-and-plr"


def test_the_link_check_finds_a_broken_link(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Title\n\nSee [there](missing.md) and [here](#nowhere).\n\n```\n[code](ignored.md)\n```\n")
    found = [m.group("target") for _, line in prose_lines(page) for m in LINK.finditer(line)]
    assert found == ["missing.md", "#nowhere"]
    assert "nowhere" not in anchors(page) and "title" in anchors(page)


def test_every_reference_page_is_linked_from_the_readme():
    readme = (REPO / "README.md").read_text()
    for page in sorted((REPO / "docs").glob("*.md")):
        assert f"](docs/{page.name})" in readme, f"README.md does not link docs/{page.name}"


# --- The numbers the documentation states are the code's ----------------------------------------------------


def _rate_defaults() -> dict[str, str]:
    """{RATE_LIMIT_…: default} as config/settings.py writes them (the test settings lift the limits)."""
    source = (REPO / "config" / "settings.py").read_text()
    return dict(re.findall(r'_rate\("(RATE_LIMIT_[A-Z_]+)", "([^"]+)"\)', source))


def _setting_default(name: str) -> str:
    source = (REPO / "config" / "settings.py").read_text()
    match = re.search(rf'env\.int\("{name}", default=(\d+)\)', source)
    assert match, f"config/settings.py reads no {name}"
    return match.group(1)


def test_the_readme_states_each_rate_limit_with_its_default():
    section = (REPO / "README.md").read_text().split("## Security and limits", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    defaults = _rate_defaults()
    assert defaults, "no rate limits found in config/settings.py"
    for variable, default in defaults.items():
        row = next((r for r in rows if f"`{variable}`" in r), None)
        assert row is not None, f"the README's limits table does not name {variable}"
        assert default in row, f"the README gives {variable} another default than {default}: {row}"
    login = next(r for r in rows if "`LOGIN_FAILURE_LIMIT`" in r)
    assert f"{_setting_default('LOGIN_FAILURE_LIMIT')} wrong passwords" in login
    assert f"{_setting_default('LOGIN_LOCKOUT_MINUTES')} minutes" in login


def test_the_security_page_states_the_codes_maxima():
    text = (REPO / "docs" / "security.md").read_text()
    for name in (
        "MAX_INSTANCE_USAGE",
        "MAX_ACCOUNT_USAGE",
        "MAX_LINE_UNITS",
        "MAX_LICENSES_PER_UNIT",
        "MAX_LINE_NUMBER",
        "MAX_LICENSES_PER_ACCOUNT",
    ):
        assert f"| `{name}` | {getattr(limits, name):,} |" in text, name
    assert f"| `TOKEN_MAX_USES` (`licensing/services/instances.py`) | {TOKEN_MAX_USES:,} |" in text
    for name in ("LOGIN_FAILURE_LIMIT", "LOGIN_LOCKOUT_MINUTES"):
        assert f"(**{_setting_default(name)}**)" in text, name


def test_the_operations_page_states_the_celery_limits():
    text = (REPO / "docs" / "operations.md").read_text()
    soft = int(_setting_default("CELERY_TASK_SOFT_TIME_LIMIT"))
    assert f"soft **{soft} s**" in text and f"hard **{soft + 60} s**" in text
    assert f"**{int(_setting_default('CELERY_VISIBILITY_TIMEOUT')):,} s**" in text
