"""Fuzz: the shipped registry of legal entities, broken one way at a time (wrong types, missing fields,
unknown kinds, NaN, huge numbers, deep nesting, bad dates, truncated or non-UTF-8 files, a BOM, the wrong
top-level type): `load_registry` refuses an unreadable file with RegistryFileError naming the file, and
an entity it cannot take with a RegistryError naming the entity and the field; the entities left
untouched still load; `ledgerbridge registry check` says so, never with a traceback."""
from __future__ import annotations

import contextlib
import io
import uuid

import pytest
import yaml
from fuzzing import damaged, deeply_nested, mutated, to_yaml
from hypothesis import event, example, given
from hypothesis import strategies as st

from ledgerbridge import settings
from ledgerbridge.cli import main as cli
from ledgerbridge.registry import RegistryFileError, load_registry, parse_entities

SHIPPED = yaml.safe_load(settings.registry_path().read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("registry-fuzz")


def _untouched(document) -> list[tuple[int, dict]]:
    """The shipped entities still as shipped, by position (none when the file's shape is broken)."""
    if not isinstance(document, dict) or not isinstance(document.get("legal_entities"), list):
        return []
    shipped = SHIPPED["legal_entities"]
    return [(position, raw) for position, raw in enumerate(document["legal_entities"]) if raw in shipped]


@st.composite
def registry_files(draw) -> tuple[bytes, bool]:
    """(the file's bytes, whether its text is the YAML of the broken document as written)."""
    document, _ = draw(mutated(SHIPPED))
    content, how = draw(damaged(to_yaml(document)))
    return content, how == "as written"


SHIPPED_TEXT = to_yaml(SHIPPED)
FIRST = to_yaml({"legal_entities": [SHIPPED["legal_entities"][0]]})


@given(case=registry_files())
@example(case=(SHIPPED_TEXT.replace(b"Acme", "Acmé".encode("latin-1")), False))  # no UTF-8
@example(case=(FIRST + b"  since: 2026-02-30\n", False))  # a date that does not exist
@example(case=(FIRST.replace(b"id: acme_us", b"id: !!int ten"), False))  # a scalar YAML cannot build
@example(case=(b"legal_entities: " + b"[" * 3000 + b"]" * 3000 + b"\n", False))  # past the recursion limit
def test_a_broken_registry_names_the_file_or_the_entity_and_field_and_the_others_load(fuzz_dir, case):
    content, as_written = case
    path = fuzz_dir / f"{uuid.uuid4().hex}.yaml"
    path.write_bytes(content)

    try:
        registry = load_registry(path)
    except RegistryFileError as error:
        event("file refused")
        assert str(error).startswith(f"registry {path}: ") and len(str(error)) > len(f"registry {path}: ")
        _check_cli(path, refused_file=True)
        return
    event("entity errors" if registry.errors else "all loaded")
    for error in registry.errors:
        text = str(error)
        assert text.startswith("registry: legal entity ")
        assert "field '" in text, text
        assert len(text) < 5000, "an error quotes what it must, not the whole entity"
    loaded = {entity.id for entity in registry.entities}
    errors_at = {error.position: str(error) for error in registry.errors}
    for position, raw in (_untouched(yaml.safe_load(content)) if as_written else []):
        # An untouched entity loads, unless a broken one before it took its id or its connection.
        assert raw["id"] in loaded or any(words in errors_at.get(position, "") for words in (
            "duplicate of an earlier entity", "is already the connection of")), (position, errors_at)
    _check_cli(path, refused_file=False)


def _check_cli(path, refused_file: bool) -> None:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli(["registry", "check", "--file", str(path)])
    assert status in (0, 1) and "Traceback" not in err.getvalue()
    if refused_file:
        assert status == 1 and str(path) in err.getvalue()
    else:
        assert all(line.startswith("error registry: legal entity ") for line in err.getvalue().splitlines())


@pytest.mark.parametrize("content, words", [
    (SHIPPED_TEXT.replace(b"Acme", "Acmé".encode("latin-1")), "is not UTF-8: byte 0xe9"),
    (FIRST + b"  since: 2026-02-30\n", "holds a value YAML cannot read: day is out of range"),
    (FIRST.replace(b"id: acme_us", b"id: !!int ten"), "holds a value YAML cannot read: invalid literal"),
    (b"legal_entities: " + b"[" * 100_000 + b"]" * 100_000 + b"\n", "nests deeper than 64 levels"),
])
def test_regressions_a_registry_file_yaml_cannot_read_is_a_registry_file_error(tmp_path, content, words):
    """Found by the fuzz: these escaped as a raw UnicodeDecodeError, ValueError, or (libyaml, deep nesting)
    a segmentation fault of the whole process."""
    path = tmp_path / "legal_entities.yaml"
    path.write_bytes(content)
    with pytest.raises(RegistryFileError) as refused:
        load_registry(path)
    assert str(refused.value) == f"registry {path}: {str(refused.value).split(': ', 1)[1]}"
    assert words in str(refused.value)


def test_regression_an_entity_error_quotes_a_deeply_nested_value_briefly():
    """Found by the fuzz: quoting a value nested 3,000 deep in the error raised RecursionError."""
    registry = parse_entities([{**SHIPPED["legal_entities"][0], "name": deeply_nested(3000)}])
    (error,) = registry.errors
    assert str(error).startswith("registry: legal entity 'acme_us': field 'name': Input should be a valid string")
    assert len(str(error)) < 200
