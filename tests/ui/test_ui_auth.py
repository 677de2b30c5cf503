"""Who may see and do what through LedgerBridge's plugin, asked of the real Airflow app and its auth manager:
anonymous callers get 401 everywhere, viewers read, editors act, a user allowed on one entity's DAG sees
and touches only that entity, and an action must be one our pages send (JSON, the action header, this site)."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from ledgerbridge.ledger import quarantine
from ledgerbridge.ledger.models import QuarantineEntry

PREFIX = "/ledgerbridge"
ACTION = {"Content-Type": "application/json", "X-LedgerBridge-Action": "1"}
SAMPLE = {"entity_id": "acme", "decision": "dismiss", "outbox_id": "1"}


def _routes(airflow):
    """Every route of the plugin's app, as (method, path with sample parameters): a new one is covered too."""
    found = []
    for route in airflow.plugin_app.routes:
        path = re.sub(r"\{(\w+)(:\w+)?\}", lambda m: SAMPLE[m.group(1)], route.path)
        found += [(method, PREFIX + path) for method in sorted(route.methods - {"HEAD"})]
    return found


@pytest.fixture
def held(airflow):
    """An open quarantine entry of acme's bills, and one of globex's."""
    keys = {}
    with airflow.ledger.session() as session:
        for entity_id in ("acme", "globex"):
            key = f"B-{entity_id}-{len(keys)}-{id(keys)}"
            quarantine.hold(session, entity_id, "bills", key, [quarantine.Reason("amount", "is negative", "-1")],
                            {"hub_id": key})
            keys[entity_id] = key
    return keys


def _entry(airflow, entity_id, key) -> QuarantineEntry:
    with airflow.ledger.session() as session:
        return session.scalars(select(QuarantineEntry).where(QuarantineEntry.entity_id == entity_id,
                                                             QuarantineEntry.record_key == key)).one()


def test_the_app_has_the_routes_this_suite_knows(airflow):
    assert len(_routes(airflow)) == 15


def test_every_route_refuses_an_anonymous_caller(airflow):
    for method, path in _routes(airflow):
        reply = airflow.client.request(method, path, headers=ACTION if method == "POST" else {}, json={}
                                       if method == "POST" else None, params={"dag_id": "ledgerbridge__acme",
                                                                              "run_id": "r"})
        assert reply.status_code == 401, (method, path, reply.status_code, reply.text)


def test_a_forged_token_is_refused_everywhere(airflow):
    for method, path in _routes(airflow):
        reply = airflow.client.request(method, path, headers={"Authorization": "Bearer not.a.token", **ACTION},
                                       params={"dag_id": "ledgerbridge__acme", "run_id": "r"})
        assert reply.status_code == 403, (method, path, reply.status_code)


def test_a_page_asked_anonymously_says_to_log_in(airflow):
    reply = airflow.client.get(f"{PREFIX}/")
    assert reply.status_code == 401
    assert "text/html" in reply.headers["content-type"] and "/auth/login" in reply.text


def test_a_viewer_sees_the_entities_and_may_not_act(airflow, held):
    headers = airflow.bearer("viewer")
    listing = airflow.client.get(f"{PREFIX}/api/entities", headers=headers)
    assert listing.status_code == 200
    assert [item["id"] for item in listing.json()["items"]] == ["acme", "globex"] and listing.json()["total"] == 2
    assert airflow.client.get(f"{PREFIX}/api/entities/acme", headers=headers).json()["name"] == "acme Ltd"
    page = airflow.client.get(f"{PREFIX}/", headers=headers)
    assert page.status_code == 200 and "/ledgerbridge/entities/globex" in page.text

    refused = airflow.client.post(f"{PREFIX}/api/entities/acme/quarantine/dismiss", headers={**headers, **ACTION},
                                  json={"dataset": "bills", "record_key": held["acme"], "reason": "duplicate"})
    assert refused.status_code == 403 and "viewer may not act on legal entity 'acme'" in refused.json()["detail"]
    assert _entry(airflow, "acme", held["acme"]).status == "open"


def test_an_editor_acts_and_the_decision_is_recorded_as_the_airflow_user(airflow, held):
    headers = {**airflow.bearer("editor"), **ACTION}
    body = {"dataset": "bills", "record_key": held["acme"], "reason": "a duplicate of B-7"}
    reply = airflow.client.post(f"{PREFIX}/api/entities/acme/quarantine/dismiss", headers=headers, json=body)
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"message": f"acme bills {held['acme']}: dismissed: never exported (until reopened)"}
    entry = _entry(airflow, "acme", held["acme"])
    assert (entry.status, entry.decided_by, entry.decision_note) == ("dismissed", "airflow:editor", "a duplicate of B-7")

    reopened = airflow.client.post(f"{PREFIX}/api/entities/acme/quarantine/reopen", headers=headers, json=body)
    assert reopened.status_code == 200 and _entry(airflow, "acme", held["acme"]).status == "open"


def test_the_core_s_refusal_is_a_409_with_its_reason(airflow, held):
    reply = airflow.client.post(f"{PREFIX}/api/entities/acme/quarantine/reopen",
                                headers={**airflow.bearer("editor"), **ACTION},
                                json={"dataset": "bills", "record_key": held["acme"]})
    assert reply.status_code == 409 and "only a dismissed or released record can be reopened" in reply.json()["detail"]


def test_a_dismissal_without_a_reason_is_refused_before_the_core(airflow, held):
    reply = airflow.client.post(f"{PREFIX}/api/entities/acme/quarantine/dismiss",
                                headers={**airflow.bearer("editor"), **ACTION},
                                json={"dataset": "bills", "record_key": held["acme"], "reason": "  "})
    assert reply.status_code == 422 and _entry(airflow, "acme", held["acme"]).status == "open"


@pytest.mark.parametrize("headers, code, why", [
    ({"Content-Type": "application/json"}, 403, "X-LedgerBridge-Action"),
    ({"Content-Type": "application/json", "X-LedgerBridge-Action": "0"}, 403, "X-LedgerBridge-Action"),
    ({"Content-Type": "application/x-www-form-urlencoded", "X-LedgerBridge-Action": "1"}, 415, "JSON"),
    ({"Content-Type": "text/plain", "X-LedgerBridge-Action": "1"}, 415, "JSON"),
    ({**ACTION, "Origin": "https://evil.example"}, 403, "another origin"),
    ({**ACTION, "Origin": "http://localhost:8081"}, 403, "another origin"),
    ({**ACTION, "Origin": "null"}, 403, "another origin"),
    ({**ACTION, "Sec-Fetch-Site": "cross-site"}, 403, "another site"),
])
def test_an_action_not_sent_by_our_pages_is_refused(airflow, held, headers, code, why):
    """What a cross-site form or script could send: nothing changes."""
    body = '{"dataset": "bills", "record_key": "%s", "reason": "forged"}' % held["acme"]
    reply = airflow.client.post(f"{PREFIX}/api/entities/acme/quarantine/dismiss",
                                headers={**airflow.bearer("admin"), **headers}, content=body)
    assert reply.status_code == code and why in reply.json()["detail"], reply.text
    assert _entry(airflow, "acme", held["acme"]).status == "open"


def test_an_action_from_this_site_with_its_origin_goes_through(airflow, held):
    reply = airflow.client.post(f"{PREFIX}/api/entities/acme/quarantine/dismiss",
                                headers={**airflow.bearer("admin"), **ACTION, "Origin": "http://localhost:8080",
                                         "Sec-Fetch-Site": "same-origin"},
                                json={"dataset": "bills", "record_key": held["acme"], "reason": "test data"})
    assert reply.status_code == 200, reply.text


def test_the_ui_s_cookie_alone_is_enough_as_in_its_iframe(airflow, held):
    """The UI's pages in an iframe send no Authorization header, only the `_token` cookie its login set."""
    client = airflow.client
    client.cookies.set("_token", airflow.token("editor"))
    try:
        assert client.get(f"{PREFIX}/").status_code == 200
        assert client.get(f"{PREFIX}/entities/acme").status_code == 200
        assert client.get(f"{PREFIX}/api/entities").json()["total"] == 2
        reply = client.post(f"{PREFIX}/api/entities/acme/quarantine/dismiss", headers=ACTION,
                            json={"dataset": "bills", "record_key": held["acme"], "reason": "from the page"})
        assert reply.status_code == 200 and _entry(airflow, "acme", held["acme"]).decided_by == "airflow:editor"
    finally:
        client.cookies.clear()


def test_a_user_allowed_on_one_dag_sees_and_touches_only_that_entity(airflow, held):
    headers = airflow.bearer("acme_clerk")
    listing = airflow.client.get(f"{PREFIX}/api/entities", headers=headers).json()
    assert [item["id"] for item in listing["items"]] == ["acme"] and listing["total"] == 1
    page = airflow.client.get(f"{PREFIX}/", headers=headers)
    assert "globex" not in page.text

    for path in ("/api/entities/globex", "/entities/globex", "/api/entities/globex/quarantine",
                 "/api/entities/globex/review", "/api/entities/globex/rejected"):
        assert airflow.client.get(PREFIX + path, headers=headers).status_code == 403, path
    run = {"dag_id": "ledgerbridge__globex", "run_id": "manual__2026-01-01T00:00:00+00:00"}
    assert airflow.client.get(f"{PREFIX}/reconciliation", params=run, headers=headers).status_code == 403
    assert airflow.client.get(f"{PREFIX}/api/reconciliation", params=run, headers=headers).status_code == 403

    body = {"dataset": "bills", "reason": "mine?"}
    refused = airflow.client.post(f"{PREFIX}/api/entities/globex/quarantine/dismiss", headers={**headers, **ACTION},
                                  json={**body, "record_key": held["globex"]})
    assert refused.status_code == 403 and _entry(airflow, "globex", held["globex"]).status == "open"
    allowed = airflow.client.post(f"{PREFIX}/api/entities/acme/quarantine/dismiss", headers={**headers, **ACTION},
                                  json={**body, "record_key": held["acme"]})
    assert allowed.status_code == 200 and _entry(airflow, "acme", held["acme"]).decided_by == "airflow:acme_clerk"


def test_an_entity_the_registry_does_not_have_is_a_404_for_who_may_see_it(airflow):
    headers = airflow.bearer("admin")
    assert airflow.client.get(f"{PREFIX}/api/entities/nobody", headers=headers).status_code == 404
    assert airflow.client.get(f"{PREFIX}/entities/nobody", headers=headers).status_code == 404


def test_a_viewer_reads_every_page_without_an_action_and_an_editor_gets_them(airflow, held):
    pages = ("/", "/entities/acme", "/entities/acme/review", "/entities/acme/quarantine",
             "/entities/acme/quarantine?status=all", "/entities/acme/rejected")
    for user, may_act in (("viewer", False), ("editor", True)):
        headers = airflow.bearer(user)
        for page in pages:
            reply = airflow.client.get(PREFIX + page, headers=headers)
            assert reply.status_code == 200, (user, page, reply.text[-500:])
            if page.startswith("/entities/"):
                assert ("read only" in reply.text) is not may_act, (user, page)
        quarantine = airflow.client.get(f"{PREFIX}/entities/acme/quarantine", headers=headers).text
        assert held["acme"] in quarantine and held["globex"] not in quarantine
        assert ('data-action="/ledgerbridge/api/entities/acme/quarantine/dismiss"' in quarantine) is may_act


def test_the_reconciliation_view_takes_the_run_from_the_ui_s_template(airflow):
    """The UI fills {DAG_ID} and {RUN_ID} with encodeURIComponent: a run id's ':' and '+' arrive intact."""
    headers = airflow.bearer("viewer")
    run_id = "manual__2026-01-01T00:00:00+00:00"
    reply = airflow.client.get(f"{PREFIX}/reconciliation?dag_id=ledgerbridge__acme&run_id=manual__2026-01-01T00%3A00"
                               "%3A00%2B00%3A00", headers=headers)
    assert reply.status_code == 200 and run_id in reply.text
    other = airflow.client.get(f"{PREFIX}/reconciliation", params={"dag_id": "some_other_dag", "run_id": run_id},
                               headers=headers)
    assert other.status_code == 200 and "is not a LedgerBridge entity" in other.text
