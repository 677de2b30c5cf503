"""The shipped JSON Schemas: well-formed, one per message kind, and each refusing what it should."""
from __future__ import annotations

import pytest
from drop_samples import DELETE, changed, message
from jsonschema import Draft202012Validator
from ledgerbridge.filedrop import (
    DECIMAL_FIELDS,
    KINDS,
    load_schema,
    schema_names,
    validate_message,
)


def test_every_kind_has_a_schema_and_every_schema_is_valid_draft_2020_12():
    assert set(schema_names()) == set(KINDS) | {"common"}
    for kind in KINDS:
        schema = load_schema(kind)
        Draft202012Validator.check_schema(schema)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def _decimal_properties(node, found: set[str], decimal_defs: set[str]) -> None:
    if isinstance(node, dict):
        for name, subschema in node.get("properties", {}).items():
            ref = subschema.get("$ref", "") if isinstance(subschema, dict) else ""
            if ref.rsplit("/", 1)[-1] in decimal_defs:
                found.add(name)
        for value in node.values():
            _decimal_properties(value, found, decimal_defs)
    elif isinstance(node, list):
        for value in node:
            _decimal_properties(value, found, decimal_defs)


def test_decimal_fields_match_the_schemas():
    """Readers turn DECIMAL_FIELDS into Decimal: the list must be exactly the schemas' decimal fields."""
    decimal_defs = {"amount", "non_negative_amount", "positive_amount", "quantity", "unit_price", "percent",
                    "exchange_rate", "home_total"}
    found: set[str] = set()
    for kind in KINDS:
        _decimal_properties(load_schema(kind), found, decimal_defs)
    assert found == DECIMAL_FIELDS - {"open_balance"}  # open_balance is the agent's state, not a wire field


@pytest.mark.parametrize("kind", KINDS)
def test_sample_message_of_each_kind_passes(kind):
    assert validate_message(kind, message(kind)) == []


# kind, pointer changed, new value, the field the problem must name, words the reason must hold
FAILING = [
    ("bills", "/records/0/vendor", DELETE, "/records/0/vendor", "required"),
    ("bills", "/records/0/lines/0/amount", 80.0, "/records/0/lines/0/amount", "JSON number"),
    ("bills", "/records/0/lines/0/amount", "80.001", "/records/0/lines/0/amount", "at most 2 decimal places"),
    ("bills", "/records/0/total", "-100.50", "/records/0/total", "no sign"),
    ("bills", "/records/0/total", "99.00", "/records/0/total", "not the sum of the line amounts"),
    ("bills", "/records/0/lines", [], "/records/0/lines", "at least 1"),
    ("bills", "/records/0/bill_number", "X" * 21, "/records/0/bill_number", "1 to 20 characters"),
    ("bills", "/records/0/txn_date", "2025-02-30", "/records/0/txn_date", "calendar date"),
    ("bills", "/records/0/vendor", {}, "/records/0/vendor", "external_id"),
    ("bills", "/records/0/ammount", "1.00", "/records/0/ammount", "not a field"),
    ("bills", "/records/0/currency", "usd", "/records/0/currency", "ISO 4217"),
    ("invoices", "/records/0/lines/0/quantity", "-2.5", "/records/0/lines/0/quantity", "never negative"),
    ("invoices", "/records/0/lines/0/unit_price", "-150.00", "/records/0/lines/0/unit_price", "never negative"),
    ("invoices", "/records/0/lines/0/amount", "374.99", "/records/0/lines/0/amount", "quantity x unit_price"),
    ("invoices", "/records/0/customer", DELETE, "/records/0/customer", "required"),
    ("journal_entries", "/records/0/lines/0/credit", "1200.00", "/records/0/lines/0", "either a debit or a credit"),
    ("journal_entries", "/records/0/lines/1/credit", "1100.00", "/records/0/lines", "do not equal credits"),
    ("journal_entries", "/records/0/lines/1", DELETE, "/records/0/lines", "at least 2"),
    ("payments", "/records/0/amount", "0.00", "/records/0/amount", "above zero"),
    ("payments", "/records/0/payment_type", "refund", "/records/0/payment_type", "not one of"),
    ("payments", "/records/0/customer", {"name": "Vance Refrigeration"}, "/records/0/customer", "does not belong"),
    ("payments", "/records/1/applications/0/amount", "400.00", "/records/1/applications", "more than the payment"),
    ("payments", "/records/0/vendor", DELETE, "/records/0/vendor", "required"),
    ("lists", "/records/2/account_type", DELETE, "/records/2/account_type", "required"),
    ("lists", "/records/2/account_type", "Cash", "/records/2/account_type", "not one of"),
    ("lists", "/records/0/due_days", 30, "/records/0/due_days", "does not belong"),
    ("lists", "/records/4/due_days", -1, "/records/4/due_days", "minimum"),
    ("lists", "/records/0/active", "yes", "/records/0/active", "must be boolean"),
    ("lists", "/records/0/list_type", "employee", "/records/0/list_type", "not one of"),
    ("lists", "/records/0/modified_at", "2025-01-31 17:00", "/records/0/modified_at", "UTC timestamp"),
    ("lists", "/records/1/key", "80000001-1738000000", "/records/1/key", "already used by record 0"),
    ("purchase_orders", "/records/0/lines/0/quantity", "-50", "/records/0/lines/0/quantity", "never negative"),
    ("purchase_orders", "/records/0/lines/0/received_quantity", "-1", "/records/0/lines/0/received_quantity",
     "never negative"),
    ("purchase_orders", "/records/0/status", "draft", "/records/0/status", "not one of"),
    ("purchase_orders", "/records/0/total", "240.00", "/records/0/total", "not the sum"),
    ("payments_made", "/records/0/amount", 100, "/records/0/amount", "JSON number"),
    ("payments_made", "/records/0/applications/0/bill", {}, "/records/0/applications/0/bill", "key"),
    ("payments_received", "/records/0/applications/0/amount", "400.00", "/records/0/applications", "more than"),
    ("payments_received", "/records/0/customer", DELETE, "/records/0/customer", "required"),
    ("confirmations", "/records/2/error", DELETE, "/records/2/error", "required"),
    ("confirmations", "/records/0/external_id", DELETE, "/records/0/external_id", "required"),
    ("confirmations", "/records/0/status", "ok", "/records/0/status", "not one of"),
    ("confirmations", "/in_reply_to/file", "../bills.json", "/in_reply_to/file", "plain file name"),
    ("confirmations", "/records", [], "/records", "at least 1"),
    ("bills", "/batch_key", "a b", "/batch_key", "batch key"),
    ("bills", "/entity_id", "Acme", "/entity_id", "legal entity id"),
    ("bills", "/created_at", "2025-02-01T09:00:00+01:00", "/created_at", "UTC timestamp"),
    ("bills", "/records", {}, "/records", "must be array"),
]


@pytest.mark.parametrize("kind, pointer, value, field, words", FAILING,
                         ids=[f"{case[0]}{case[1]}={case[2]!r}"[:70] for case in FAILING])
def test_refusals_name_the_record_and_the_field(kind, pointer, value, field, words):
    data = changed(message(kind), pointer, value)
    problems = validate_message(kind, data)
    assert problems, "expected a problem"
    problem = next((p for p in problems if p.field == field), None)
    assert problem is not None, [p.describe() for p in problems]
    assert words in problem.reason, problem.describe()
    if field.startswith("/records/") and field.count("/") >= 3:
        index = int(field.split("/")[2])
        assert problem.record_index == index
        record = data["records"][index]
        assert problem.record_key == record.get("key")
        assert f"record {index}" in problem.describe()


def test_unknown_kind_is_refused():
    [problem] = validate_message("vendors", message("lists"))
    assert problem.code == "unknown_kind" and "vendors" in problem.reason


def test_extension_fields_are_allowed():
    data = message("bills")
    data["x_hub"] = {"anything": 1}
    data["records"][0]["x_approval_id"] = "A-7"
    assert validate_message("bills", data) == []


def test_a_bad_record_does_not_hide_the_good_ones():
    data = message("bills", records=[*message("bills")["records"], {"key": "bill-2"}])
    problems = validate_message("bills", data)
    assert {p.record_index for p in problems} == {1}
    assert all(p.record_key == "bill-2" for p in problems)
