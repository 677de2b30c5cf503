"""Test helpers: entities, sandbox companies, a sync run without Airflow, and sandbox inspection."""
from __future__ import annotations

import logging
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

import requests
from ledgerbridge.connectors.factory import ConnectionSettings, quickbooks_online
from ledgerbridge.demo import _seed_company
from ledgerbridge.pipeline import RunContext, RunParams, run_all
from ledgerbridge.registry import LegalEntity

CLIENT_ID, CLIENT_SECRET = "ledgerbridge-test", "test-secret"

STANDARD_LISTS = {
    "accounts": [
        {"Name": "Operating Bank", "AcctNum": "1000", "AccountType": "Bank"},
        {"Name": "Payables", "AcctNum": "2000", "AccountType": "Accounts Payable"},
        {"Name": "Supplies", "AcctNum": "6010", "AccountType": "Expense"},
        {"Name": "Consulting", "AcctNum": "6030", "AccountType": "Expense"},
    ],
    "classes": ["Operations"],
    "terms": [{"Name": "Net 30", "DueDays": 30}],
    "vendors": [
        {"DisplayName": "Nick Brown", "PrimaryEmailAddr": {"Address": "nick@brown.example"}},
        {"DisplayName": "Dunder Mifflin Paper"},
    ],
    "customers": [{"DisplayName": "Vance Refrigeration"}],
}


class FakeClock:
    """A sandbox's clock (epoch seconds) that stands still at `start` until advanced."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@contextmanager
def syspro_served(*, seed: int, customers: int, stock_items: int, orders: int, bad_orders: bool = True,
                  **options) -> Iterator[Any]:
    """A SysproSandbox(**options) seeded with seed_company, served on loopback, stopped after. The
    sandbox's clock, if one is given, is also `server.clock`."""
    from ledgerbridge.sandbox.syspro import SysproSandbox, seed_company, serve_in_thread

    sandbox = SysproSandbox(**options)
    seed_company(sandbox, seed=seed, customers=customers, stock_items=stock_items, orders=orders,
                 bad_orders=bad_orders)
    server = serve_in_thread(sandbox)
    if "clock" in options:
        server.clock = options["clock"]
    try:
        yield server
    finally:
        server.stop()


@cache
def postgres_available() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=0.5):
            return True
    except OSError:
        return False


@cache
def redis_available() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


def make_entity(entity_id: str, currency: str = "USD", create_missing_vendors: bool = True,
                flows: tuple[str, ...] = ("reference", "parties", "bills", "bill_payments"),
                create_missing_customers: bool = False) -> LegalEntity:
    return LegalEntity.model_validate({
        "id": entity_id, "name": f"{entity_id} Ltd", "base_currency": currency,
        "accounting": {"kind": "quickbooks_online", "conn_id": f"qbo_{entity_id}"},
        "flows": list(flows), "matching": {"create_missing_vendors": create_missing_vendors,
                                                     "create_missing_customers": create_missing_customers},
    })


def connect_company(server, ledger, entity: LegalEntity, lists: dict | None = None, **company) -> ConnectionSettings:
    """A new sandbox company for `entity`, its lists created through the API, and its connection;
    `company`: the seeding call's settings (country, book_close_date, multicurrency)."""
    realm_id = str(uuid.uuid4().int)[:13]
    # The company keeps its books in the entity's currency (a foreign CurrencyRef needs multicurrency).
    reply = requests.post(f"{server.url}/_sandbox/realms", json={
        "client_id": CLIENT_ID, "company_name": entity.name, "realm_id": realm_id,
        "home_currency": entity.base_currency, **company}, timeout=10)
    reply.raise_for_status()
    conn = ConnectionSettings(entity.accounting.conn_id, server.url, CLIENT_ID, CLIENT_SECRET, realm_id,
                              {"refresh_token": reply.json()["refresh_token"],
                               "token_url": f"{server.url}/oauth2/v1/tokens/bearer"})
    _seed_company(quickbooks_online(conn, ledger).client, entity.id, STANDARD_LISTS if lists is None else lists)
    return conn


def context(entity: LegalEntity, ledger, conn: ConnectionSettings, run_id: str | None = None,
            client_options: dict | None = None, **params) -> RunContext:
    return RunContext(
        entity=entity, ledger=ledger, run_id=run_id or f"test__{uuid.uuid4().hex[:8]}",
        params=RunParams.from_mapping(params),
        connect=lambda: quickbooks_online(conn, ledger, **{"backoff_seconds": 0.01, **(client_options or {})}),
        log=logging.getLogger(f"ledgerbridge.test.{entity.id}"),
    )


def sync(entity: LegalEntity, ledger, conn: ConnectionSettings, run_id: str | None = None, **params) -> dict:
    """Every step of a run, in order, as the DAG runs them (no Airflow)."""
    return run_all(context(entity, ledger, conn, run_id, **params))


def company(server, conn: ConnectionSettings):
    """The sandbox's own view of a company (the 'accounting system's books')."""
    return server.sandbox.realms[conn.schema]


def query(server, conn: ConnectionSettings, ledger, statement: str) -> list[dict[str, Any]]:
    client = quickbooks_online(conn, ledger).client
    entity = statement.split(" FROM ")[1].split()[0]
    return client.query(statement).get(entity, [])


def bills_in_company(server, conn, ledger) -> list[dict[str, Any]]:
    return query(server, conn, ledger, "SELECT * FROM Bill MAXRESULTS 1000")


def hub_data(bills: list[dict], vendors: list[dict] | None = None, payments: list[dict] | None = None) -> dict:
    return {
        "vendors": vendors if vendors is not None else [
            {"hub_id": "V-1", "name": "Brown, Nick"},
            {"hub_id": "V-2", "name": "Dunder Mifflin Paper Co."},
            {"hub_id": "V-3", "name": "Globochem Supplies"},
        ],
        "bills": bills,
        "bill_payments": payments or [],
    }


def bill(hub_id: str, vendor: str = "V-1", amount: str = "100.00", account: str = "6010", status: str = "approved",
         **extra) -> dict:
    return {"hub_id": hub_id, "vendor": vendor, "doc_number": extra.pop("doc_number", hub_id),
            "doc_date": extra.pop("doc_date", "2026-11-02"), "status": status,
            "lines": extra.pop("lines", [{"amount": amount, "account": account}]), **extra}



def registry_entry(entity_id: str, **overrides) -> dict:
    """A QuickBooks Online legal entity as the registry file holds it (`overrides`: its other fields)."""
    return {"id": entity_id, "name": entity_id.title(), "base_currency": "USD",
            "accounting": {"kind": "quickbooks_online", "conn_id": f"qbo_{entity_id}"}, **overrides}


def registry_dagbag(monkeypatch, tmp_path, entries: list[dict]):
    """Airflow's DagBag of the project's dags/ folder, reading a registry of `entries` (LEDGERBRIDGE_REGISTRY)."""
    from pathlib import Path

    import yaml
    from airflow.dag_processing.dagbag import DagBag

    registry = tmp_path / "legal_entities.yaml"
    registry.write_text(yaml.safe_dump({"legal_entities": entries}))
    monkeypatch.setenv("LEDGERBRIDGE_REGISTRY", str(registry))
    return DagBag(dag_folder=str(Path(__file__).resolve().parents[1] / "dags"))
