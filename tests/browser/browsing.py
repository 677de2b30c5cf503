"""What the browser tests share: Chromium's launch, signing in through Airflow's login page."""
from __future__ import annotations

import os
import re

CHROMIUM = os.environ.get("LEDGERBRIDGE_CHROMIUM", "/usr/bin/chromium")
# As root, in a closed network: no sandbox, and none of Chromium's own calls home.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
VIEWPORT = {"width": 1400, "height": 900}


def login(browser, stack, user: str):
    """A fresh browser context, signed in through Airflow's own login page; returns its page."""
    from playwright.sync_api import expect

    from stack import USERS

    context = browser.new_context(viewport=VIEWPORT, base_url=stack.base_url)
    context.set_default_timeout(20_000)
    page = context.new_page()
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/auth/login"))
    page.get_by_label("Username").fill(user)
    page.get_by_label("Password").fill(USERS[user])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/auth/login" not in url)
    return page


