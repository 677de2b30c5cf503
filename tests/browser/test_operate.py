"""A person operating LedgerBridge in the Airflow UI, in headless Chromium: the nav entry, the entities table,
a review confirmed and a held bill released (each through the page's confirmation dialog), the entity's DAG
run, and what that run did seen in the table, the quarantine and the run's reconciliation (from the entity
row and from Airflow's DAG run page). A viewer sees the same pages without a single action.

The tests of this module run in order over one Airflow (conftest.py): the viewer's and the nav's first,
then the admin's decisions and the run they lead to.
"""
from __future__ import annotations

import re

import pytest


expect = pytest.importorskip("playwright.sync_api", reason="no browser: Playwright for Python is not installed").expect

ENTITY, DAG_ID = "globex_uk", "ledgerbridge__globex_uk"
FRAME = "iframe[title=LedgerBridge]"


def _row(frame, entity_id: str):
    return frame.locator("table.entities tbody tr").filter(has=frame.get_by_role("link", name=entity_id, exact=True))


def _cells(row) -> dict[str, str]:
    headers = ("entity", "accounting", "source", "last_run", "exported", "confirmed", "rejected", "waiting", "held",
               "review", "refused", "reconciliation", "token")
    return dict(zip(headers, (text.strip() for text in row.locator("td").all_inner_texts())))


def _nav(page):
    return page.get_by_test_id("nav-sidebar").get_by_role("link", name="LedgerBridge")


def _entities(page):
    """LedgerBridge from Airflow's nav (from Airflow's home: clicked from inside one of LedgerBridge's own pages,
    the nav entry changes the address but leaves the view where it was); returns the view's frame."""
    page.goto("/")
    _nav(page).click()
    expect(page).to_have_url(re.compile(r"/plugin/ledgerbridge(/|$)"))
    frame = page.frame_locator(FRAME)
    expect(frame.get_by_role("heading", name="Legal entities")).to_be_visible()
    return frame


def _open_entity(page, tab: str | None = None):
    """LedgerBridge from Airflow's nav, then the entity, then one of its tabs; returns the view's frame."""
    frame = _entities(page)
    frame.get_by_role("link", name=ENTITY, exact=True).click()
    expect(frame.get_by_role("heading", name=re.compile("Globex Trading Ltd"))).to_be_visible()
    if tab:
        frame.locator("nav.tabs").get_by_role("link", name=re.compile(f"^{tab}")).click()
        expect(frame.locator("nav.tabs a.on")).to_contain_text(tab)
    return frame


def test_the_nav_entry_opens_the_entities_table_inside_airflow(as_admin, shots):
    page = as_admin
    page.goto("/dags")
    nav = _nav(page)
    expect(nav).to_be_visible()
    expect(page.get_by_role("link", name=DAG_ID)).to_be_visible()
    nav.hover()
    shots.take(page, "nav", clip={"x": 0, "y": 0, "width": 900, "height": 520})
    nav.click()
    frame = page.frame_locator(FRAME)
    expect(frame.get_by_role("heading", name="Legal entities")).to_be_visible()
    rows = frame.locator("table.entities tbody tr")
    expect(rows).to_have_count(2)
    acme, globex = _cells(_row(frame, "acme_us")), _cells(_row(frame, ENTITY))
    assert acme["entity"].startswith("acme_us") and "Acme Widgets Inc." in acme["entity"]
    assert (acme["exported"], acme["held"], acme["review"]) == ("8", "2", "0")
    assert globex["last_run"].startswith("success") and globex["reconciliation"] == "balanced"
    assert (globex["exported"], globex["held"], globex["review"], globex["refused"]) == ("3", "5", "2", "0")
    shots.take(page, "entities")


def test_a_viewer_sees_every_page_without_an_action_and_is_refused_one(as_viewer, stack, shots):
    page = as_viewer
    frame = _open_entity(page, "Review")
    expect(frame.get_by_text("read only")).to_be_visible()
    expect(frame.locator("section.card[data-hub-id='V-203']")).to_contain_text("Virginia Smith")
    expect(frame.locator("button[data-action]")).to_have_count(0)
    shots.take(page, "review-viewer")
    frame.locator("nav.tabs").get_by_role("link", name=re.compile("^Quarantine")).click()
    expect(frame.locator("tr[data-record-key='B-2006']")).to_contain_text("may be released")
    expect(frame.locator("button[data-action]")).to_have_count(0)
    frame.locator("nav.tabs").get_by_role("link", name=re.compile("^Rejected")).click()
    expect(frame.locator("nav.tabs a.on")).to_contain_text("Rejected")

    # What a Release button would send, sent by hand from the page: the server refuses a viewer.
    view = next(f for f in page.frames if "/ledgerbridge/entities/" in f.url)
    said = view.evaluate("""async () => {
        const reply = await fetch("/ledgerbridge/api/entities/globex_uk/quarantine/release", {method: "POST",
            credentials: "same-origin", headers: {"Content-Type": "application/json", "X-LedgerBridge-Action": "1"},
            body: JSON.stringify({dataset: "bills", record_key: "B-2006", reason: "viewer tries"})});
        return [reply.status, await reply.text()];
    }""")
    assert said[0] == 403, said


def test_confirm_release_run_and_see_the_bills_exported(as_admin, stack, shots):
    page = as_admin
    frame = _open_entity(page, "Review")
    card = frame.locator("section.card[data-hub-id='V-203']")
    expect(card).to_contain_text("V. Smith")
    shots.take(page, "review")

    # Confirm: the dialog names both parties and says it is final; Cancel changes nothing.
    card.get_by_role("button", name="Confirm").click()
    dialog = frame.locator("#confirm-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Link hub vendor V-203 Virginia Smith to")
    expect(dialog).to_contain_text("V. Smith? This is final.")
    shots.take(page, "review-confirm")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    expect(card.get_by_role("button", name="Confirm")).to_be_enabled()
    card.get_by_role("button", name="Confirm").click()
    dialog.get_by_role("button", name="Confirm").click()
    expect(frame.locator("#flash")).to_have_class(re.compile(r"\bok\b"))
    expect(frame.locator("#flash")).to_contain_text("V-203")
    expect(card.get_by_role("button", name="Confirm")).to_be_disabled()

    # Release B-2006 (its due date is before its date: a person may waive that), with a reason.
    frame.locator("nav.tabs").get_by_role("link", name=re.compile("^Quarantine")).click()
    held = frame.locator("tr[data-record-key='B-2006']")
    expect(held).to_contain_text("due_date_not_before_doc_date, may be released")
    expect(frame.locator("tr[data-record-key='B-2004']").get_by_role("button", name="Release")).to_be_disabled()
    shots.take(page, "quarantine")
    held.get_by_role("button", name="Release").click()
    expect(dialog).to_contain_text("Release bills B-2006 as it is?")
    reason = dialog.get_by_label("Reason (kept in the audit log)")
    expect(reason).to_be_visible()
    dialog.get_by_role("button", name="Confirm").click()  # no reason: the dialog does not close
    expect(dialog).to_be_visible()
    reason.fill("Landlord's invoice dated after its due date; agreed with AP")
    shots.take(page, "quarantine-release")
    dialog.get_by_role("button", name="Confirm").click()
    expect(frame.locator("#flash")).to_contain_text("released: waived due_date_not_before_doc_date")

    frame.locator("nav.tabs").get_by_role("link", name=re.compile("^Rejected")).click()
    expect(frame.get_by_text("The accounting system refused nothing")).to_be_visible()
    shots.take(page, "rejected")

    run_id = stack.dags_test(ENTITY)

    # The table: the last run is the new one, its two bills exported, Speedy Couriers left to review, three held.
    frame = _entities(page)
    row = _row(frame, ENTITY)
    expect(row.locator("td").nth(3).get_by_role("link")).to_have_attribute("title", re.compile(re.escape(run_id)))
    globex = _cells(row)
    assert (globex["exported"], globex["confirmed"], globex["held"], globex["review"]) == ("2", "2", "3", "1"), globex
    assert globex["reconciliation"] == "balanced"

    # The quarantine: B-2005 and B-2006 are gone from it.
    frame.get_by_role("link", name=ENTITY, exact=True).click()
    frame.locator("nav.tabs").get_by_role("link", name=re.compile("^Quarantine")).click()
    expect(frame.locator("table.held tbody tr")).to_have_count(3)
    for gone in ("B-2005", "B-2006"):
        expect(frame.locator(f"tr[data-record-key='{gone}']")).to_have_count(0)

    # The reconciliation of that run, from the entity row ...
    frame = _entities(page)
    _row(frame, ENTITY).get_by_role("link", name="balanced").click()
    expect(frame.get_by_role("heading", name="Reconciliation")).to_be_visible()
    expect(frame.get_by_text(run_id).first).to_be_visible()
    expect(frame.locator("table.recon tbody tr").filter(has_text="bills")).to_contain_text(re.compile(r"confirmed\s*4 "))
    expect(frame.get_by_text("Created in the accounting system by this run: 2.")).to_be_visible()

    # ... and from Airflow's own DAG run page: Dags -> the entity's DAG -> its runs -> this run -> "Reconciliation".
    page.goto(f"/dags/{DAG_ID}/runs")
    page.get_by_role("link", name=run_id).click()
    expect(page).to_have_url(re.compile(rf"/dags/{DAG_ID}/runs/{re.escape(run_id[:30])}"))
    page.get_by_role("link", name="Reconciliation").click()
    expect(page).to_have_url(re.compile(r"/plugin/ledgerbridge-reconciliation(/|$)"))
    run_view = page.frame_locator("iframe[title=Reconciliation]")
    expect(run_view.get_by_text("balanced").first).to_be_visible()
    expect(run_view.get_by_text(run_id).first).to_be_visible()
    expect(run_view.get_by_text("Created in the accounting system by this run: 2.")).to_be_visible()
    shots.take(page, "reconciliation")


def test_an_entity_row_s_last_run_opens_the_entity_inside_the_view(as_admin):
    """Airflow 3.3 frames a view with sandbox='allow-scripts allow-same-origin allow-forms allow-downloads' (no
    allow-top-navigation): a link out of the frame to Airflow's own pages would be blocked, so the pages link
    within the view only; the run's own page is a tab of Airflow's DAG run (Reconciliation)."""
    page = as_admin
    frame = _entities(page)
    _row(frame, ENTITY).locator("td").nth(3).get_by_role("link").click()
    expect(frame.get_by_role("heading", name=re.compile("Globex Trading Ltd"))).to_be_visible()
    expect(frame.get_by_role("heading", name="Last run", exact=True)).to_be_visible()
