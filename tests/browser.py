"""The one way the suite and `make screenshots` start a browser: Debian's Chromium (never a downloaded one),
driven by Playwright, headless, with nothing that reaches the network by itself."""

from __future__ import annotations

import os
import re
from pathlib import Path

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
# The widths the pages are checked and pictured at: a laptop, a small laptop, a phone.
DESKTOP = {"width": 1366, "height": 900}
SMALL_DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def chromium_path() -> Path:
    return Path(CHROMIUM)


def launch(playwright):
    """A headless Chromium; every context made from it has a fresh profile."""
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)


def open_tab(page, label: str, bar: str = "nav.subnav ul.tabs") -> None:
    """Click the tab `label` of a tab bar, through its "More" menu when it sits there."""
    link = page.locator(f"{bar} a").filter(has_text=re.compile(rf"^\s*{re.escape(label)}(\s+\d+)?\s*$")).first
    if link.locator("xpath=ancestor::li[contains(@class, 'tabs-more')]").count():
        page.click(f"{bar} li.tabs-more > details > summary")
    link.click()
    page.wait_for_load_state()


def has_sideways_scroll(page) -> bool:
    """The page body is wider than the window (something needs scrolling sideways)."""
    return page.evaluate("document.documentElement.scrollWidth > window.innerWidth")


def tab_state(page, selector: str = "nav.subnav ul.tabs") -> dict:
    """Where a tab bar's current tab is (in the bar, in its "More" menu, on screen) and what it holds."""
    return page.evaluate(
        """(selector) => {
          const bar = document.querySelector(selector);
          if (!bar) return null;
          const current = bar.querySelector('a[aria-current]');
          const box = current ? current.getBoundingClientRect() : null;
          const inMore = current ? !!current.closest('li.tabs-more') : false;
          const labels = Array.from(bar.querySelectorAll('a')).map((a) => a.textContent.trim());
          const barBox = bar.getBoundingClientRect();
          return {
            current: current ? current.textContent.trim() : null,
            currentInMore: inMore,
            currentOnScreen: !!box && box.width > 0 && box.left >= 0 && box.right <= window.innerWidth,
            labels: labels,
            inMore: Array.from(bar.querySelectorAll('li.tabs-more a')).map((a) => a.textContent.trim()),
            barFits: barBox.right <= window.innerWidth + 0.5,
            lastRight: Math.max(0, ...Array.from(bar.children).filter((li) => !li.hidden)
              .map((li) => li.getBoundingClientRect().right)),
            rows: new Set(Array.from(bar.children).filter((li) => !li.hidden)
              .map((li) => Math.round(li.getBoundingClientRect().top))).size,
          };
        }""",
        selector,
    )
