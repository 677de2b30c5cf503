"""Browser tests: headless Chromium (Debian's /usr/bin/chromium, driven by Playwright for Python) against a
real Airflow api-server with LedgerBridge's UI plugin and the demo's data (stack.py). One Airflow per session.

They are skipped, saying why, only where no browser can be had: Playwright not installed, or no Chromium at
/usr/bin/chromium (or $LEDGERBRIDGE_CHROMIUM). Playwright never downloads a browser of its own here.

Screenshots of every page go to $LEDGERBRIDGE_UI_SCREENSHOTS when it is set (docs/img holds the ones
docs/ui.md shows: `LEDGERBRIDGE_UI_SCREENSHOTS=docs/img pytest tests/browser`).
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from browsing import CHROMIUM, CHROMIUM_ARGS, login


def _why_no_browser() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install -r requirements.txt)"
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium; .ci/run installs it)"
    return None


def pytest_report_header(config):
    why = _why_no_browser()
    return f"browser tests: SKIPPED, {why}" if why else f"browser tests: headless {CHROMIUM} through Playwright"


def pytest_collection_modifyitems(config, items):
    why = _why_no_browser()
    if why is None:
        return
    skip = pytest.mark.skip(reason=f"no browser: {why}")
    for item in items:
        if "tests/browser/" in item.nodeid.replace(os.sep, "/"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    from stack import Stack, start_stack

    reuse = os.environ.get("LEDGERBRIDGE_BROWSER_STACK")  # developing the tests: a stack kept running elsewhere
    if reuse:
        import json

        info = json.loads(Path(reuse).read_text())
        yield Stack(Path(reuse).parent, env=info["env"], base_url=info["base"])
        return
    work = tmp_path_factory.mktemp("browser-airflow")
    started = time.monotonic()
    running = start_stack(work)
    running.timings["start"] = time.monotonic() - started
    try:
        yield running
    finally:
        running.stop()
        print("\nbrowser stack timings (s): " + ", ".join(f"{k}={v:.1f}" for k, v in running.timings.items()))


@pytest.fixture(scope="module")
def browser():
    """Chromium for one module: Playwright's sync API keeps an event loop running in this thread while it is
    open, which would refuse every later test's asyncio.run()."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


class Shots:
    """Screenshots where $LEDGERBRIDGE_UI_SCREENSHOTS says, as ui-<name>.png; nowhere otherwise."""

    def __init__(self, folder: str | None):
        self.folder = Path(folder) if folder else None
        if self.folder:
            self.folder.mkdir(parents=True, exist_ok=True)

    def take(self, target, name: str, **options) -> None:
        if self.folder:
            target.screenshot(path=str(self.folder / f"ui-{name}.png"), **options)


@pytest.fixture(scope="session")
def shots() -> Shots:
    return Shots(os.environ.get("LEDGERBRIDGE_UI_SCREENSHOTS"))


@pytest.fixture
def as_admin(browser, stack):
    page = login(browser, stack, "admin")
    yield page
    page.context.close()


@pytest.fixture
def as_viewer(browser, stack):
    page = login(browser, stack, "viewer")
    yield page
    page.context.close()

