"""Fuzz: inbound file-drop messages of every kind (valid samples broken one way at a time: truncated JSON,
wrong types, missing fields, unknown references, huge numbers, NaN and Infinity, too many decimals,
non-UTF-8 bytes, a BOM, deep nesting, empty, the wrong top-level type) are read, or refused with
problems naming the record (index and key) and the field (a JSON pointer); never a raw parser, decimal
or path error. The connector's side takes them the same way: the agent's confirmations and uploads are
used or moved to rejected/ with the reason, and the good file beside them is still read."""
from __future__ import annotations

import json
import uuid
from contextlib import nullcontext
from datetime import UTC, datetime, timedelta

import pytest
from drop_samples import COMPANY, ENTITY, START, drop, file_name, message
from fuzzing import damaged, mutated, to_json
from hypothesis import event, example, given
from hypothesis import strategies as st

from ledgerbridge.connectors.filedrop import FileDropConnector
from ledgerbridge.filedrop import KINDS, InboundMessage, LocalFileSystem, Rejection, read_inbound
from ledgerbridge.filedrop.protocol import BATCH_KEY, REJECTED

FILE_ERROR = {"code": "malformed_json", "reason": "is not valid JSON", "field": None, "message": "is not valid JSON"}
# The agent refusing a whole to_accounting file: the connector then reads that file's keys from rejected/.
REFUSED_WHOLE = message("confirmations", records=[], file_error=FILE_ERROR)
SAMPLES = {kind: message(kind) for kind in KINDS} | {"confirmations of a refused file": REFUSED_WHOLE}
EVERY_REFERENCE = {kind: None for kind in ("vendor", "customer", "account", "class", "term", "item",
                                           "purchase_order", "bill_payment", "payment")}


@st.composite
def inbound_files(draw) -> tuple[str, bytes]:
    """(message kind, the file's bytes): a valid sample message, broken."""
    sample = draw(st.sampled_from(sorted(SAMPLES)))
    document, _ = draw(mutated(SAMPLES[sample]))
    content, _ = draw(damaged(to_json(document, draw(st.booleans()))))
    return SAMPLES[sample]["kind"], content


def _batch_key(content: bytes) -> str:
    """The file is named after its own batch key when it still has a usable one (else a mismatch is all)."""
    try:
        key = json.loads(content).get("batch_key")
    except (ValueError, AttributeError, RecursionError):
        return "batch-1"
    return key if isinstance(key, str) and BATCH_KEY.fullmatch(key) else "batch-1"


def _check_problems(rejection: Rejection | None, problems) -> None:
    for problem in problems:
        assert problem.code and problem.reason.strip() and problem.describe().strip()
        if problem.record_index is not None:  # a record's problem names it and a field inside it
            assert problem.field.startswith(f"/records/{problem.record_index}"), problem
            assert problem.describe().startswith(f"record {problem.record_index}")
        elif problem.field is not None:
            assert problem.field.startswith("/"), problem
    if rejection is not None:
        assert rejection.problems and rejection.reason == rejection.problems[0].describe()


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("drop-fuzz")


@given(case=inbound_files())
@example(case=("confirmations", to_json(message("confirmations", records=[], file_error=FILE_ERROR,
                                                in_reply_to={"file": "..", "kind": "bills", "batch_key": "batch-1"}))))
@example(case=("confirmations", to_json(message("confirmations", records=[], file_error=FILE_ERROR,
                                                in_reply_to={"file": ".", "kind": "bills", "batch_key": "batch-1"}))))
def test_a_broken_inbound_file_is_read_or_refused_naming_record_and_field_and_the_good_file_is_still_read(
        fuzz_dir, case):
    kind, content = case
    root = fuzz_dir / uuid.uuid4().hex
    path = drop(root, kind, content, batch_key=_batch_key(content))
    relative = path.relative_to(root).as_posix()
    fs = LocalFileSystem(root)

    for strict in (True, False):
        result = read_inbound(fs, relative, entity_id=ENTITY, company_id=COMPANY, strict=strict)
        assert isinstance(result, (InboundMessage, Rejection))
        if isinstance(result, Rejection):
            _check_problems(result, result.problems)
        else:
            assert strict is False or not result.record_problems
            assert all(problem.record_index is not None for problem in result.record_problems)
            _check_problems(None, result.record_problems)
    event(f"{kind}: {'refused' if isinstance(result, Rejection) else 'read'}")

    # The connector: the refused file of a whole-file confirmation lies in rejected/; a good upload beside.
    rejected = root / ENTITY / REJECTED
    rejected.mkdir(parents=True, exist_ok=True)
    (rejected / file_name("bills", "batch-1")).write_text(json.dumps(message("bills", batch_key="batch-1")))
    good = drop(root, "lists", message("lists", batch_key="good-lists"),
                name=file_name("lists", "good-lists", START + timedelta(hours=1)))
    connector = FileDropConnector(lambda: nullcontext(LocalFileSystem(root)), ENTITY, COMPANY)

    connector.find_existing_many([])
    changes = connector.fetch_changes(EVERY_REFERENCE, datetime.now(UTC))
    connector.acknowledge()

    assert {ref.external_id for ref in changes.changes["vendor"]} >= {
        record["key"] for record in message("lists")["records"] if record["list_type"] == "vendor"}
    assert not good.exists()  # read and acknowledged
    if not path.exists():  # taken, or refused with its reason beside it
        report = rejected / f"{path.name}.error.json"
        assert (root / ENTITY / "processed" / path.name).exists() or json.loads(report.read_text())["message"]


@pytest.mark.parametrize("file", ["..", "."])
def test_regression_a_confirmation_naming_a_file_that_climbs_out_is_refused_naming_the_field(tmp_path, file):
    """Found by the fuzz: the agent's whole-file refusal naming '..' as the file it answers passed the
    schema, and the connector then raised UnsafePath looking for that file."""
    content = message("confirmations", records=[], file_error=FILE_ERROR,
                      in_reply_to={"file": file, "kind": "bills", "batch_key": "batch-1"})
    path = drop(tmp_path, "confirmations", content)

    result = read_inbound(LocalFileSystem(tmp_path), path.relative_to(tmp_path).as_posix(), entity_id=ENTITY)

    assert isinstance(result, Rejection) and result.field == "/in_reply_to/file"
    assert "a plain file name" in result.reason
