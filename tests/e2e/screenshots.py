"""`make screenshots`: PNG screenshots of the portal's main pages, for every demo login, at a laptop's width
(1366 px) and a phone's (390 px), to review how the pages read.

    python -m tests.e2e.screenshots [--out var/screenshots] [--login alice.admin@acme.example.com ...]

It makes a fresh SQLite database with the demo data (`seed_demo`) in the output folder, serves it with
`runserver` on a free local port, and drives Debian's Chromium through Playwright as the browser tests do
(tests/browser.py). For each login it pictures the home page, the account's home and each of its tabs, and
the first Virtual Account's hub with each of its tabs; files are named
`<login>-<width>-<nn>-<page>.png`. The folder is emptied of earlier PNGs first.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.browser import DESKTOP, PHONE, chromium_path, launch  # noqa: E402

WIDTHS = (DESKTOP, PHONE)
ACCOUNT_HOME = re.compile(r"^/accounts/\d+/$")
# [label, href] of a tab bar's links; a tab's label is its first text (a count badge may follow).
TAB_LINKS = "els => els.map(e => [e.firstChild.textContent.trim(), e.getAttribute('href')])"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tests.e2e.screenshots", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--out", default=str(REPO / "var" / "screenshots"), help="folder for the PNG files")
    parser.add_argument("--login", action="append", default=[], help="only this demo login (repeatable)")
    return parser.parse_args(argv)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def demo_logins(seed_output: str) -> tuple[list[str], str]:
    """The e-mail addresses and the password `seed_demo` printed."""
    password = re.search(r"password for all: (\S+)\)", seed_output).group(1)
    emails = re.findall(r"^\s{2}(\S+@\S+)\s{2,}", seed_output, flags=re.M)
    return emails, password


def wait_for(url: str, server: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("The portal did not start (see runserver.log in the output folder).")
        try:
            urllib.request.urlopen(url, timeout=2)  # noqa: S310 - our own local server
            return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"The portal did not answer at {url} within {timeout:.0f} s.")


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "home"


def pages_of(page) -> list[tuple[str, str]]:
    """(name, path) of the pages to picture for the logged-in user: home, an account and its tabs, a VA's hub."""
    found = [("home", "/")]
    links = page.eval_on_selector_all("main a[href]", "els => els.map(e => e.getAttribute('href'))")
    accounts = [href for href in links if ACCOUNT_HOME.match(href or "")]
    if not accounts:
        return found
    page.goto(accounts[0])
    tabs = page.eval_on_selector_all("nav.subnav ul.tabs a", TAB_LINKS)
    found += [(slug(label), href) for label, href in tabs]
    va_tree = next((href for label, href in tabs if label.startswith("Virtual Accounts")), None)
    if va_tree:
        page.goto(va_tree)
        # The first VA that holds something (its row shows a count above 0), else the first VA.
        hub = page.evaluate(
            """() => {
              const rows = Array.from(document.querySelectorAll('[data-testid=va-tree] .tree-row'));
              const busy = rows.find((r) => Array.from(r.querySelectorAll('.tree-counts strong'))
                .some((s) => s.textContent.trim() !== '0')) || rows[0];
              return busy ? busy.querySelector(':scope > a').getAttribute('href') : null;
            }"""
        )
        if hub:
            page.goto(hub)
            va_tabs = page.eval_on_selector_all("[data-testid=va-tabs] a", TAB_LINKS)
            found += [(f"va-{slug(label)}", href) for label, href in va_tabs]
    seen, unique = set(), []
    for name, path in found:
        if path not in seen:
            seen.add(path)
            unique.append((name, path))
    return unique


def shoot(browser, base_url: str, email: str, password: str, out: Path) -> int:
    context = browser.new_context(base_url=base_url, viewport=DESKTOP)
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.goto("/login/")
    page.fill("input[name=username]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    who = slug(email.split("@")[0])
    taken = 0
    for number, (name, path) in enumerate(pages_of(page), start=1):
        for viewport in WIDTHS:
            page.set_viewport_size(viewport)
            page.goto(path)
            page.wait_for_load_state("networkidle")
            page.screenshot(path=out / f"{who}-{viewport['width']}-{number:02d}-{name}.png", full_page=True)
            taken += 1
    context.close()
    return taken


def main(argv=None) -> int:
    args = parse_args(argv)
    if not chromium_path().exists():
        raise SystemExit(f"{chromium_path()} is not installed (apt-get install -y chromium).")
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.png"):
        old.unlink()
    database = out / "portal.sqlite3"
    database.unlink(missing_ok=True)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "DEBUG": "1", "DATABASE_URL": f"sqlite:///{database}", "REDIS_URL": "",
           "PORTAL_BASE_URL": base_url, "DJANGO_SETTINGS_MODULE": "config.settings"}  # fmt: skip
    manage = [sys.executable, str(REPO / "manage.py")]
    subprocess.run([*manage, "migrate", "--no-input", "-v", "0"], cwd=REPO, env=env, check=True)
    seeded = subprocess.run([*manage, "seed_demo"], cwd=REPO, env=env, check=True, capture_output=True, text=True)
    emails, password = demo_logins(seeded.stdout)
    if args.login:
        emails = [e for e in emails if e in args.login]
    with open(out / "runserver.log", "w") as log:
        server = subprocess.Popen([*manage, "runserver", "--noreload", f"127.0.0.1:{port}"], cwd=REPO, env=env,
                                  stdout=log, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    try:
        wait_for(f"{base_url}/login/", server)
        from playwright.sync_api import sync_playwright

        with sync_playwright() as pw:
            browser = launch(pw)
            for email in emails:
                taken = shoot(browser, base_url, email, password, out)
                print(f"{email}: {taken} screenshots")
            browser.close()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    print(f"Screenshots in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
