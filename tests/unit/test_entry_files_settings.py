"""An entry-files entity's settings and lists: what the registry refuses, how the accountant's exports
are read (bad rows named and left out), how new auxiliary accounts are named."""
from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ledgerbridge.connectors.entryfiles import EntryFilesConnector, pcg_account_type
from ledgerbridge.connectors.errors import ConnectorError
from ledgerbridge.connectors.factory import ConnectionSettings, entry_files
from ledgerbridge.registry import EntryFileSettings, LegalEntity, parse_entities

SETTINGS = {"payables_account": "401000", "receivables_account": "411000"}


def _entity(accounting: dict) -> dict:
    return {"id": "martin_fr", "name": "Boulangerie Martin", "base_currency": "EUR", "accounting": accounting}


@pytest.mark.parametrize(("accounting", "said"), [
    ({"kind": "entry_files", "conn_id": "f"}, "field 'entry_files' is required for kind entry_files"),
    ({"kind": "quickbooks_online", "conn_id": "q", "entry_files": SETTINGS},
     "field 'entry_files' applies to kind entry_files, not to kind quickbooks_online"),
    ({"kind": "entry_files", "conn_id": "f", "entry_files": {"payables_account": "401000"}}, "receivables_account"),
    ({"kind": "entry_files", "conn_id": "f", "entry_files": {**SETTINGS, "journals": {"bank": "BQ"}}},
     "journals for bank: entry files carry bill, invoice"),
    ({"kind": "entry_files", "conn_id": "f", "entry_files": {**SETTINGS, "journals": {"bill": "achats"}}},
     "journal codes are 1 to 8 capitals or digits: bill: 'achats'"),
    ({"kind": "entry_files", "conn_id": "f", "entry_files": {**SETTINGS, "format": "qif"}}, "format"),
    ({"kind": "entry_files", "conn_id": "f", "entry_files": {**SETTINGS, "siren": "73282932"}}, "siren"),
    ({"kind": "entry_files", "conn_id": "f", "entry_files": {**SETTINGS, "fiscal_year_end": "02-30x"}},
     "fiscal_year_end"),
])
def test_the_registry_names_what_is_wrong_with_entry_file_settings(accounting, said):
    [error] = parse_entities([_entity(accounting)]).errors
    assert error.entity_id == "martin_fr" and said in str(error)


def test_journals_default_per_kind_and_can_be_overridden():
    settings = EntryFileSettings(**SETTINGS, journals={"bill": "ACH"})
    assert [settings.journal(kind) for kind in ("bill", "invoice", "credit_note", "sales_receipt", "journal_entry")] \
        == ["ACH", "VT", "AV", "VC", "OD"]


def _connector(root: Path) -> EntryFilesConnector:
    entity = LegalEntity.model_validate(_entity({"kind": "entry_files", "conn_id": "f", "entry_files": SETTINGS}))
    return entry_files(entity, ConnectionSettings("f", extra={"local_root": str(root)}),
                       now=lambda: datetime(2026, 12, 4, tzinfo=UTC))


def _reference(root: Path, name: str, text: str) -> None:
    folder = root / "martin_fr" / "reference"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(text.encode("utf-8"))


def test_the_chart_of_accounts_is_required_and_named_when_missing(tmp_path):
    with pytest.raises(ConnectorError, match=r"martin_fr/reference/accounts.csv is missing"):
        list(_connector(tmp_path).fetch_reference("account", None))


def test_lists_are_read_with_a_bom_and_semicolons_and_bad_rows_are_named_and_left_out(tmp_path, caplog):
    _reference(tmp_path, "accounts.csv", "\ufeffNumber;Name;Active\n401000;Fournisseurs;\n;Sans numéro;\n"
                                         "512000;Banque;\n999000;Ancien compte;false\n401000;Encore;\n")
    _reference(tmp_path, "tax_codes.csv", "code,name,rate,account\nTVA20,TVA 20,20,445710\nTVA55,TVA 5.5,\"5,5\",445710\n"
                                          "BAD,Bad,vingt,445710\nNEG,Neg,-1,445710\n")
    connector = _connector(tmp_path)
    with caplog.at_level(logging.WARNING):
        accounts = {a.external_id: a for a in connector.fetch_reference("account", None)}
        taxes = {t.external_id: t.raw["rate"] for t in connector.fetch_reference("tax_code", None)}
    assert set(accounts) == {"401000", "512000", "999000"} and accounts["401000"].name == "Fournisseurs"
    assert accounts["999000"].active is False
    assert (accounts["401000"].account_type, accounts["512000"].account_type) == ("Accounts Payable", "Bank")
    assert taxes == {"TVA20": "20", "TVA55": "5.5"}
    said = caplog.text
    assert "accounts.csv line 3: column number is empty" in said
    assert "accounts.csv line 6: account '401000' appears twice" in said
    assert "tax_codes.csv line 4: column rate 'vingt' is not a number" in said
    assert "tax_codes.csv line 5: column rate -1 is not a percentage" in said


def test_a_list_without_a_required_column_is_refused_naming_it(tmp_path):
    _reference(tmp_path, "accounts.csv", "number,name\n401000,Fournisseurs\n")
    _reference(tmp_path, "items.csv", "code,name\nPAIN,Pain\n")
    with pytest.raises(ConnectorError, match=r"items.csv: column\(s\) income_account missing"):
        list(_connector(tmp_path).fetch_reference("item", None))


def test_a_list_not_in_utf8_is_refused_naming_it(tmp_path):
    _reference(tmp_path, "accounts.csv", "number,name\n")
    (tmp_path / "martin_fr" / "reference" / "accounts.csv").write_bytes("number,name\n606,Énergie\n".encode("latin-1"))
    with pytest.raises(ConnectorError, match=r"accounts.csv: not UTF-8"):
        list(_connector(tmp_path).fetch_reference("account", None))


def test_new_auxiliary_accounts_read_as_the_name_and_keep_parties_apart(tmp_path):
    connector = _connector(tmp_path)
    assert connector.auxiliary_code("vendor", "V-502", "Papeterie Dupont") == "FPAPETERIEDUPV502"
    assert connector.auxiliary_code("customer", "C-1", "Élise Müller & Fils") == "CELISEMULLERFILC1"
    assert len(connector.auxiliary_code("vendor", "V-" + "9" * 30, "X")) == 17
    assert connector.auxiliary_code("vendor", "V-1", "A") != connector.auxiliary_code("vendor", "V-11", "A")


@pytest.mark.parametrize(("number", "account_type"), [
    ("101300", "Equity"), ("164000", "Long Term Liability"), ("218300", "Fixed Asset"), ("401000", "Accounts Payable"),
    ("411000", "Accounts Receivable"), ("445660", "Other Current Liability"), ("512000", "Bank"),
    ("606100", "Expense"), ("706000", "Income"), ("890000", None)])
def test_the_french_chart_gives_an_account_its_type(number, account_type):
    assert pcg_account_type(number) == account_type


def test_a_closed_period_is_a_date_and_survives_the_registry_cache():
    entity = LegalEntity.model_validate(_entity({"kind": "entry_files", "conn_id": "f",
                                                 "entry_files": {**SETTINGS, "closed_through": "2026-10-31"}}))
    again = LegalEntity.model_validate_json(entity.model_dump_json())
    assert str(again.accounting.entry_files.closed_through) == "2026-10-31"
    [error] = parse_entities([_entity({"kind": "entry_files", "conn_id": "f",
                                       "entry_files": {**SETTINGS, "closed_through": "31/10/2026"}})]).errors
    assert "closed_through" in str(error)
