"""Money on the wire: Decimal in, the same Decimal out, never a float; file names both ways."""
from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from drop_samples import COMPANY, ENTITY
from ledgerbridge.filedrop import (
    MessageInvalid,
    WireError,
    build_message,
    encode_message,
    from_wire,
    make_file_name,
    parse_file_name,
    to_wire,
    wire_decimal,
)


@pytest.mark.parametrize("value, text", [
    ("123.45", "123.45"), ("100", "100.00"), ("1E+2", "100.00"), ("123.450", "123.45"), ("1.5", "1.50"),
    ("0.12345", "0.12345"), ("-0.00", "0.00"), ("-5", "-5.00"), ("9999999999999.99", "9999999999999.99"),
])
def test_decimals_are_written_exactly_in_fixed_point(value, text):
    assert wire_decimal(Decimal(value)) == text
    assert Decimal(text) == Decimal(value)


def test_a_float_is_refused_naming_its_place():
    with pytest.raises(WireError, match="/records/0/amount: 0.1 is a float"):
        to_wire({"records": [{"amount": 0.1}]})


def test_infinite_amounts_are_refused():
    with pytest.raises(WireError):
        wire_decimal(Decimal("Infinity"))


def test_amounts_survive_a_round_trip_to_the_cent():
    lines = [{"account": {"name": "Supplies"}, "amount": Decimal("0.10")} for _ in range(3)]
    record = {"key": "b-1", "vendor": {"name": "V"}, "bill_number": "1", "txn_date": "2025-01-01",
              "currency": "USD", "lines": lines, "total": Decimal("0.30")}
    message = build_message("bills", entity_id=ENTITY, company_id=COMPANY, batch_key="b1", records=[record],
                            created_at=datetime(2025, 1, 1, tzinfo=UTC))
    data = json.loads(encode_message(message))
    assert data["records"][0]["lines"][0]["amount"] == "0.10"  # a string on the wire, not 0.1
    back = from_wire(data["records"])
    assert back[0]["total"] == sum(line["amount"] for line in back[0]["lines"]) == Decimal("0.30")
    assert data["created_at"] == "2025-01-01T00:00:00.000Z"


def test_we_never_write_a_message_that_breaks_its_own_schema():
    message = build_message("bills", entity_id=ENTITY, company_id=COMPANY, batch_key="b1",
                            records=[{"key": "b-1"}], created_at=datetime(2025, 1, 1, tzinfo=UTC))
    with pytest.raises(MessageInvalid, match="record 0 .key 'b-1'., field /records/0/bill_number: is required"):
        encode_message(message)


def test_file_names_round_trip():
    moment = datetime(2025, 2, 1, 9, 30, 15, 123456, tzinfo=UTC)
    batch_key = "6f1d7c52-3a1e-4e55-9a57-1d1b5c2b7a10"  # outbox batch keys are UUIDs: hyphens are fine
    name = make_file_name("journal_entries", batch_key, moment)
    assert name == f"journal_entries-20250201T093015.123Z-{batch_key}.json"
    parsed = parse_file_name(name)
    assert (parsed.kind, parsed.batch_key) == ("journal_entries", batch_key)
    assert parsed.created_at == moment.replace(microsecond=0)
    assert parse_file_name(name.replace(".json", "~2.json")).batch_key == batch_key


@pytest.mark.parametrize("name", ["bills.json", "bills-2025-batch.json", "bills-20250201T093015Z-.json",
                                  "bills-20250201T093015Z-b1.json.part", "bills-20250201T093015Z-b/1.json",
                                  "Bills-20250201T093015Z-b1.json"])
def test_names_outside_the_convention_do_not_parse(name):
    assert parse_file_name(name) is None


def test_make_file_name_refuses_bad_batch_keys():
    with pytest.raises(ValueError, match="batch key"):
        make_file_name("bills", "../x", datetime(2025, 1, 1, tzinfo=UTC))
