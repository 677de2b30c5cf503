"""The connector specs are the one list of accounting kinds and of source kinds: the registry's kinds,
the factories' dispatch, the pools and the connection types all come from them."""
from __future__ import annotations

from importlib import import_module

import pytest
from ledgerbridge.connectors.factory import ConnectionSettings, ConnectionSettingsError, build_connector
from ledgerbridge.connectors.specs import (ACCOUNTING_SPECS, LEDGER_CONNECTION, SOURCE_SPECS, accounting_spec,
                                           connection_types, source_spec)
from ledgerbridge.registry import ERP_KINDS, FILE_DROP_KINDS, AccountingKind, LegalEntity, SourceKind, parse_entities
from ledgerbridge.sources.factory import build_source
from ledgerbridge.steps import connector_pool


# What a kind with settings of its own needs at least (its spec's settings_field).
KIND_SETTINGS = {"entry_files": {"payables_account": "401000", "receivables_account": "411000"}}


def _entity(kind: str, entity_id: str = "acme") -> dict:
    settings = {spec.settings_field: KIND_SETTINGS[spec.kind] for spec in ACCOUNTING_SPECS
                if spec.kind == kind and spec.settings_field}
    return {"id": entity_id, "name": "Acme", "base_currency": "USD",
            "accounting": {"kind": kind, "conn_id": f"conn_{entity_id}", **settings}}


def test_every_spec_kind_is_a_registry_kind_and_every_registry_kind_has_a_spec():
    kinds = [spec.kind for spec in ACCOUNTING_SPECS]
    assert len(kinds) == len(set(kinds))
    assert set(kinds) == {kind.value for kind in AccountingKind}
    assert FILE_DROP_KINDS == {AccountingKind(spec.kind) for spec in ACCOUNTING_SPECS if spec.file_drop}
    assert AccountingKind.QUICKBOOKS_ONLINE == "quickbooks_online"  # members keep their names


def test_the_registry_accepts_each_spec_kind_and_names_them_all_when_refusing_another():
    registry = parse_entities([_entity(spec.kind, f"e{i}") for i, spec in enumerate(ACCOUNTING_SPECS)])
    assert registry.errors == ()
    assert [e.accounting.kind for e in registry.entities] == [spec.kind for spec in ACCOUNTING_SPECS]
    [error] = parse_entities([_entity("sage_intacct")]).errors
    assert "accounting.kind" in str(error)
    assert all(spec.kind in str(error) for spec in ACCOUNTING_SPECS)


def test_each_kind_has_its_own_pool_from_its_spec():
    names = [connector_pool(spec.kind) for spec in ACCOUNTING_SPECS]
    assert names == [spec.pool.name for spec in ACCOUNTING_SPECS]
    assert len(set(names)) == len(names)
    assert all(name.startswith("ledgerbridge_") and spec.pool.slots > 0 and spec.pool.description
               for name, spec in zip(names, ACCOUNTING_SPECS))


def test_each_factory_is_a_function_where_its_spec_says():
    for spec in ACCOUNTING_SPECS:
        module, _, function = spec.factory.partition(":")
        assert callable(getattr(import_module(module), function)), spec.factory


@pytest.mark.parametrize("spec", [s for s in ACCOUNTING_SPECS if s.file_drop], ids=lambda s: s.kind)
def test_build_connector_builds_a_file_drop_kind_through_its_spec(spec, tmp_path):
    entity = LegalEntity.model_validate(_entity(spec.kind))
    conn = ConnectionSettings("conn_acme", extra={"local_root": str(tmp_path), "company_id": "QBD-acme"})
    connector = build_connector(entity, conn, None)
    assert connector.kind == spec.kind
    with connector.open_fs() as fs:
        assert fs.list("") == []


def test_build_connector_builds_quickbooks_online_through_its_spec():
    entity = LegalEntity.model_validate(_entity("quickbooks_online"))
    # The QuickBooks factory checks the connection before it needs the ledger.
    with pytest.raises(ConnectionSettingsError, match="Realm ID.*refresh_token"):
        build_connector(entity, ConnectionSettings("conn_acme"), None)


def test_an_unknown_kind_is_refused_naming_the_known_ones():
    with pytest.raises(KeyError, match="sage_intacct.*quickbooks_online"):
        accounting_spec("sage_intacct")


def test_connection_types_are_the_ledgers_then_each_accounting_and_source_type_once():
    declared = [c.conn_type for c in connection_types()]
    assert declared[0] == LEDGER_CONNECTION.conn_type
    assert len(declared) == len(set(declared))
    assert set(declared[1:]) == {spec.connection.conn_type for spec in (*ACCOUNTING_SPECS, *SOURCE_SPECS)}


# -- the source side ----------------------------------------------------------------------------


def _source_entity(kind: str, entity_id: str = "acme") -> dict:
    return {**_entity("quickbooks_online", entity_id), "source": {"kind": kind, "conn_id": f"src_{entity_id}"}}


def test_every_source_spec_kind_is_a_registry_source_kind_and_back():
    kinds = [spec.kind for spec in SOURCE_SPECS]
    assert len(kinds) == len(set(kinds))
    assert kinds == [kind.value for kind in SourceKind]
    assert SourceKind.FEED == "feed" and SourceKind.SYSPRO == "syspro"  # members keep their names
    assert ERP_KINDS == {SourceKind(spec.kind) for spec in SOURCE_SPECS if spec.erp}


def test_the_registry_accepts_each_source_kind_with_its_default_after_export_and_names_them_all_when_refusing():
    registry = parse_entities([_source_entity(spec.kind, f"e{i}") for i, spec in enumerate(SOURCE_SPECS)])
    assert registry.errors == ()
    for entity, spec in zip(registry.entities, SOURCE_SPECS):
        assert entity.source.kind == spec.kind
        assert entity.source.follows_changes == (spec.after_export == "follow")
    [error] = parse_entities([_source_entity("netsuite")]).errors
    assert "source.kind" in str(error)
    assert all(spec.kind in str(error) for spec in SOURCE_SPECS)


def test_each_source_factory_is_a_function_where_its_spec_says():
    for spec in SOURCE_SPECS:
        module, _, function = spec.factory.partition(":")
        assert callable(getattr(import_module(module), function)), spec.factory
    with pytest.raises(KeyError, match="netsuite.*feed.*syspro"):
        source_spec("netsuite")


def test_the_syspro_connection_type_has_its_form():
    form = source_spec("syspro").connection.form.behaviour()
    assert source_spec("syspro").connection.conn_type == "ledgerbridge_syspro"
    assert form["relabeling"] == {"host": "e.net REST base URL", "login": "Operator", "password": "Operator password"}
    assert "company_id" in form["placeholders"]["extra"] and "company_password" in form["placeholders"]["extra"]
    assert "timeout" in form["placeholders"]["extra"]


def test_build_source_builds_a_feed_through_its_spec_whatever_the_connections_type(tmp_path):
    from ledgerbridge.sources.feed import FeedSource

    entity = LegalEntity.model_validate(_source_entity("feed"))
    source = build_source(entity, ConnectionSettings("src_acme", extra={"local_root": str(tmp_path)}))
    assert isinstance(source, FeedSource)
    assert source.fetch_changes(None).records == ()


def test_build_source_builds_syspro_through_its_spec():
    from ledgerbridge.sources.syspro.connector import SysproSource

    entity = LegalEntity.model_validate(_source_entity("syspro"))
    conn = ConnectionSettings("src_acme", host="erp.example", port=20443, login="ADMIN", password="pw",
                              extra={"company_id": "STARK", "timeout": "12"})
    source = build_source(entity, conn)
    assert isinstance(source, SysproSource)
    client = source.client
    assert (client.base_url, client.operator, client.company_id, client.timeout) == (
        "https://erp.example:20443", "ADMIN", "STARK", 12.0)
    with pytest.raises(ConnectionSettingsError, match="extra 'company_id'"):
        build_source(entity, ConnectionSettings("src_acme", host="erp.example", login="ADMIN"))
