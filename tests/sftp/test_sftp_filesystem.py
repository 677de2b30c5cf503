"""SFTPFileSystem keeps the FileSystem contract of filedrop/fs.py, on sshd and on the embedded server."""
from __future__ import annotations

import os

import pytest
from ledgerbridge.filedrop import (
    FileSystem,
    FileTooLarge,
    NotARegularFile,
    SymlinkRefused,
    UnsafePath,
    list_inbound,
    write_atomic,
)


def test_it_is_a_filesystem(drop):
    assert isinstance(drop.fs, FileSystem)


def test_list_gives_sorted_names_and_nothing_for_a_missing_directory(drop):
    for name in ("b.json", "a.json", "c.json.part"):
        (drop.local / name).write_bytes(b"{}")
    (drop.local / "sub").mkdir()
    assert drop.fs.list("") == ["a.json", "b.json", "c.json.part", "sub"]
    assert drop.fs.list("missing") == []
    assert drop.fs.list("missing/deeper") == []


def test_written_bytes_read_back_and_overwrite_a_part_file(drop):
    drop.fs.write_bytes("x.json.part", b"first attempt, longer")
    drop.fs.write_bytes("x.json.part", b"second")
    assert (drop.local / "x.json.part").read_bytes() == b"second"
    assert drop.fs.read_bytes("x.json.part", 100) == b"second"
    assert drop.fs.exists("x.json.part") and not drop.fs.exists("y.json")


def test_write_atomic_leaves_the_file_and_no_part(drop):
    drop.fs.mkdir("to_accounting/bills")
    write_atomic(drop.fs, "to_accounting/bills/b.json", b'{"ok": true}')
    assert os.listdir(drop.local / "to_accounting/bills") == ["b.json"]


def test_rename_never_overwrites(drop):
    (drop.local / "new.json").write_bytes(b"new")
    (drop.local / "old.json").write_bytes(b"old")
    with pytest.raises(FileExistsError):
        drop.fs.rename("new.json", "old.json")
    assert (drop.local / "old.json").read_bytes() == b"old"
    assert (drop.local / "new.json").read_bytes() == b"new"
    drop.fs.rename("new.json", "fresh.json")
    assert sorted(os.listdir(drop.local)) == ["fresh.json", "old.json"]


def test_rename_does_not_replace_a_dangling_symlink(drop):
    (drop.local / "new.json").write_bytes(b"new")
    os.symlink(drop.local / "nowhere", drop.local / "taken.json")
    with pytest.raises(FileExistsError):
        drop.fs.rename("new.json", "taken.json")
    assert os.path.islink(drop.local / "taken.json")


def test_rename_of_a_missing_file_says_so(drop):
    with pytest.raises(FileNotFoundError):
        drop.fs.rename("ghost.json", "b.json")


def test_read_is_capped_before_reading(drop):
    (drop.local / "big.json").write_bytes(b"x" * 1001)
    with pytest.raises(FileTooLarge) as raised:
        drop.fs.read_bytes("big.json", 1000)
    assert raised.value.size == 1001 and "1001 bytes is over the limit of 1000" in str(raised.value)
    assert drop.fs.read_bytes("big.json", 1001) == b"x" * 1001


def test_an_empty_file_reads_as_empty(drop):
    (drop.local / "empty.json").write_bytes(b"")
    assert drop.fs.read_bytes("empty.json", 10) == b""


@pytest.mark.parametrize("pointing_to", ["inside", "outside", "dangling"])
def test_symlinks_are_seen_and_never_followed(drop, tmp_path, pointing_to):
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"not for the drop")
    (drop.local / "real.json").write_bytes(b"{}")
    link_target = {"inside": drop.local / "real.json", "outside": secret, "dangling": drop.local / "gone"}[pointing_to]
    os.symlink(link_target, drop.local / "link.json")  # made on the server side, as a hostile agent could

    assert drop.fs.is_symlink("link.json") and drop.fs.exists("link.json")
    assert "link.json" in drop.fs.list("")
    with pytest.raises(SymlinkRefused):
        drop.fs.read_bytes("link.json", 1000)
    with pytest.raises(SymlinkRefused):
        drop.fs.write_bytes("link.json", b"through the link")
    assert secret.read_bytes() == b"not for the drop"
    assert not drop.fs.is_symlink("real.json")


def test_a_symlinked_directory_leading_outside_is_refused(target, drop, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.json").write_bytes(b"secret")
    os.symlink(outside, drop.local / "escape")
    # sshd shows where the link leads and the client refuses; the sandbox refuses it itself.
    refused = UnsafePath if target.name == "sshd" else PermissionError
    for operation in (lambda: drop.fs.read_bytes("escape/secret.json", 1000), lambda: drop.fs.list("escape"),
                      lambda: drop.fs.write_bytes("escape/planted.json", b"x"), lambda: drop.fs.mkdir("escape/a")):
        with pytest.raises(refused):
            operation()
    assert os.listdir(outside) == ["secret.json"]


def test_directories_and_fifos_are_not_regular_files(drop):
    (drop.local / "dir.json").mkdir()
    os.mkfifo(drop.local / "fifo.json")
    with pytest.raises(NotARegularFile):
        drop.fs.read_bytes("dir.json", 1000)
    with pytest.raises(NotARegularFile):
        drop.fs.read_bytes("fifo.json", 1000)


def test_mkdir_makes_parents_and_is_idempotent(drop):
    drop.fs.mkdir("acme_us/to_accounting/bills")
    drop.fs.mkdir("acme_us/to_accounting/bills")
    drop.fs.mkdir("acme_us/to_accounting")
    drop.fs.mkdir("")
    assert (drop.local / "acme_us/to_accounting/bills").is_dir()


def test_mkdir_over_a_file_fails(drop):
    (drop.local / "occupied").write_bytes(b"")
    with pytest.raises(OSError):
        drop.fs.mkdir("occupied/below")


def test_remove(drop):
    (drop.local / "x.json.part").write_bytes(b"x")
    drop.fs.remove("x.json.part")
    assert not (drop.local / "x.json.part").exists()
    with pytest.raises(FileNotFoundError):
        drop.fs.remove("x.json.part")


UNSAFE = ["../escape.json", "/etc/passwd", "a/../../escape.json", "a\\..\\b", "", "a//b", "./a", "a\nb"]


@pytest.mark.parametrize("path", UNSAFE)
def test_unsafe_paths_are_refused_by_every_operation(drop, path):
    operations = [lambda: drop.fs.read_bytes(path, 10), lambda: drop.fs.write_bytes(path, b"x"),
                  lambda: drop.fs.exists(path), lambda: drop.fs.is_symlink(path), lambda: drop.fs.remove(path),
                  lambda: drop.fs.rename("a.json", path), lambda: drop.fs.rename(path, "a.json")]
    if path:
        operations += [lambda: drop.fs.mkdir(path), lambda: drop.fs.list(path)]
    for operation in operations:
        with pytest.raises(UnsafePath):
            operation()
    assert not (drop.local.parent / "escape.json").exists()


def test_list_inbound_leaves_uploads_in_progress_out(drop):
    drop.fs.mkdir("inbox")
    (drop.local / "inbox/b.json").write_bytes(b"{}")
    (drop.local / "inbox/a.json.part").write_bytes(b"{")
    assert list_inbound(drop.fs, "inbox") == ["inbox/b.json"]


def test_a_missing_root_is_a_clear_error(target, drop_dir):
    with pytest.raises(FileNotFoundError, match="the drop root is not a directory"), target.connect(drop_dir / "nope"):
        pass
