"""Bad files in from_accounting/ through the pipeline: each of the reader's catalogue of bad files
(malformed JSON, wrong version, missing fields, wrong types, negative quantities, huge, empty,
non-UTF-8, a symlink, ...) ends in rejected/ with a reason, and the good files beside it are imported
into the ledger's mirror."""
from __future__ import annotations

import json
import logging
import sys
from contextlib import nullcontext
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "filedrop"))  # the reader's catalogue

from drop_samples import COMPANY, ENTITY, START, drop, file_name, message
from ledgerbridge.connectors.filedrop import FileDropConnector
from ledgerbridge.filedrop.fs import LocalFileSystem
from ledgerbridge.ledger.models import ReferenceRecord
from ledgerbridge.pipeline import RunContext, RunParams, run_step
from ledgerbridge.registry import LegalEntity
from test_filedrop_reader import BAD_FILES, LIMIT


def test_bad_inbound_files_are_rejected_with_their_reason_and_the_good_ones_imported(ledger, tmp_path):
    for second, bad in enumerate(BAD_FILES):
        drop(tmp_path, bad.kind, bad.content, name=bad.name or file_name(bad.kind, at=START + timedelta(seconds=second)))
    good = message("lists", batch_key="good-lists")
    drop(tmp_path, "lists", good)
    drop(tmp_path, "purchase_orders", message("purchase_orders", batch_key="good-po"))
    lists = tmp_path / ENTITY / "from_accounting" / "lists"
    (lists / file_name("lists", "a-symlink")).symlink_to(lists / file_name("lists", "good-lists"))
    entity = LegalEntity.model_validate({"id": ENTITY, "name": "Acme", "base_currency": "USD",
                                         "accounting": {"kind": "quickbooks_desktop", "conn_id": "drop_acme"},
                                         "flows": ["reference"]})
    connector = FileDropConnector(lambda: nullcontext(LocalFileSystem(tmp_path)), ENTITY, COMPANY, max_bytes=LIMIT)
    ctx = RunContext(entity=entity, ledger=ledger, run_id="bad-input", params=RunParams.from_mapping({}),
                     connect=lambda: connector, log=logging.getLogger("ledgerbridge.test.bad_input"))

    summary = run_step(ctx, "pull_reference")

    rejected = tmp_path / ENTITY / "rejected"
    reports = {p.name.removesuffix(".error.json"): json.loads(p.read_text()) for p in rejected.glob("*.error.json")}
    assert len(reports) == len(BAD_FILES) + 1  # and the symlink
    for bad in BAD_FILES:
        name = bad.name or file_name(bad.kind, at=START + timedelta(seconds=BAD_FILES.index(bad)))
        report = reports[name]
        assert report["code"] == bad.code, name
        if bad.field:
            assert report["field"] == bad.field and bad.field in report["message"]
        assert (rejected / name).exists()
    assert reports[file_name("lists", "a-symlink")]["code"] == "symlink"
    for inbox in ("lists", "purchase_orders", "payments"):
        assert list((tmp_path / ENTITY / "from_accounting" / inbox).iterdir()) == [], "read or rejected, all"
    with ledger.session() as session:
        mirrored = {(r.kind, r.external_id) for r in session.scalars(select(ReferenceRecord))}
    assert {("vendor", record["key"]) for record in good["records"] if record["list_type"] == "vendor"} <= mirrored
    assert summary["purchase_order"]["received"] == 1
