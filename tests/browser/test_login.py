"""Signing in through Airflow's own login page, as a person does."""
from __future__ import annotations

import re

import pytest

from browsing import login

expect = pytest.importorskip("playwright.sync_api", reason="no browser: Playwright for Python is not installed").expect


def test_the_login_page_signs_the_admin_in_to_airflow_s_home(browser, stack):
    page = login(browser, stack, "admin")
    try:
        expect(page).to_have_url(re.compile(r"^http://127\.0\.0\.1:\d+/(\?.*)?$"))
        expect(page.get_by_role("link", name=re.compile("Dags", re.I)).first).to_be_visible()
    finally:
        page.context.close()


def test_a_wrong_password_stays_on_the_login_page(browser, stack):
    context = browser.new_context(base_url=stack.base_url)
    page = context.new_page()
    try:
        page.goto("/auth/login")
        page.get_by_label("Username").fill("admin")
        page.get_by_label("Password").fill("not-the-password")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_text(re.compile("invalid|incorrect|wrong", re.I)).first).to_be_visible()
        expect(page).to_have_url(re.compile(r"/auth/login"))
    finally:
        context.close()
