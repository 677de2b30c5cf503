"""No host key is accepted blindly: a server presenting another key than the configured one is refused."""
from __future__ import annotations

import base64
import logging
import shutil
import subprocess

import asyncssh
import paramiko
import pytest
from ledgerbridge.filedrop.sftp import HostKeyRefused, open_sftp, parse_host_key
from ledgerbridge.sandbox.sftp import public_key_line


def other_key_line() -> str:
    return public_key_line(asyncssh.generate_private_key("ssh-ed25519"))


def test_a_server_presenting_an_unknown_host_key_is_refused(target, drop_dir):
    with pytest.raises(HostKeyRefused) as refused, target.connect(drop_dir, host_key=other_key_line()):
        pytest.fail("connected to a server whose host key is not the configured one")
    assert str(refused.value).startswith(
        f"host key of 127.0.0.1:{target.port} does not match the connection's host_key: refusing to connect")
    assert "the server offered ssh-ed25519 SHA256:" in str(refused.value)


def test_the_right_host_key_connects_in_any_usual_notation(target, drop_dir):
    key_type, data = target.host_key_line.split()
    for notation in (data, f"{key_type} {data}", f"{key_type} {data} host@example",
                     f"[127.0.0.1]:{target.port} {key_type} {data}"):
        with target.connect(drop_dir, host_key=notation) as fs:
            assert fs.list("") == []


def test_without_a_host_key_nothing_connects(target, drop_dir):
    with (pytest.raises(HostKeyRefused, match="no host_key and no known_hosts given.*ssh-keyscan"),
          target.connect(drop_dir, host_key=None)):
        pass


def test_known_hosts_file_decides_when_no_host_key_is_given(target, drop_dir, tmp_path):
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{target.port} {target.host_key_line}\n")
    with target.connect(drop_dir, host_key=None, known_hosts=str(known_hosts)) as fs:
        assert fs.list("") == []

    known_hosts.write_text(f"[127.0.0.1]:{target.port} {other_key_line()}\n")
    with (pytest.raises(HostKeyRefused, match=f"does not match the known_hosts file {known_hosts}"),
          target.connect(drop_dir, host_key=None, known_hosts=str(known_hosts))):
        pass

    known_hosts.write_text(f"sftp.example {target.host_key_line}\n")
    with (pytest.raises(HostKeyRefused, match=f"is not in the known_hosts file {known_hosts}: refusing to connect"),
          target.connect(drop_dir, host_key=None, known_hosts=str(known_hosts))):
        pass


def test_no_host_key_check_connects_and_says_it_is_unsafe(target, drop_dir, caplog):
    with (caplog.at_level(logging.WARNING, logger="ledgerbridge.filedrop.sftp"),
          target.connect(drop_dir, host_key=None, no_host_key_check=True) as fs):
        assert fs.list("") == []
    assert "host key NOT verified" in caplog.text


def test_no_host_key_check_with_a_host_key_is_a_contradiction(target, drop_dir):
    with pytest.raises(ValueError, match="contradicts"), target.connect(drop_dir, no_host_key_check=True):
        pass


@pytest.mark.skipif(not shutil.which("ssh-keyscan"), reason="ssh-keyscan not installed")
def test_the_line_ssh_keyscan_prints_is_a_valid_host_key(target, drop_dir):
    scanned = subprocess.run(["ssh-keyscan", "-p", str(target.port), "-t", "ed25519", "127.0.0.1"],
                             capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    assert scanned.split()[1:] == target.host_key_line.split()
    with target.connect(drop_dir, host_key=scanned) as fs:
        assert fs.list("") == []


def test_wrong_credentials_are_refused_after_the_host_key_checked_out(target, drop_dir):
    with pytest.raises(paramiko.AuthenticationException), target.connect(drop_dir, private_key=None, password="wrong"):
        pass


def test_the_embedded_server_also_takes_a_key(embedded_target, tmp_path):
    local = embedded_target.served / "key-login"
    local.mkdir(exist_ok=True)
    with embedded_target.connect(local, password=None, private_key=embedded_target.client_key) as fs:
        assert fs.list("") == []


def test_parse_host_key_reads_the_notations_and_refuses_the_rest():
    key_type, data = other_key_line().split()
    assert parse_host_key(data).get_base64() == data
    assert parse_host_key(f"{key_type} {data} comment").get_name() == "ssh-ed25519"
    rsa = paramiko.RSAKey.generate(2048)
    assert parse_host_key(f"sftp.example ssh-rsa {rsa.get_base64()}") == rsa
    with pytest.raises(ValueError, match="says 'ssh-rsa' but its data is a 'ssh-ed25519' key"):
        parse_host_key(f"ssh-rsa {data}")
    dss = base64.b64encode(paramiko.Message().add_string("ssh-dss").add_string("p").asbytes()).decode()
    with pytest.raises(ValueError, match="'ssh-dss' is not usable"):
        parse_host_key(f"ssh-dss {dss}")  # paramiko dropped DSA, as OpenSSH did
    for garbage in ("", "ssh-ed25519", "not a key", "ssh-ed25519 AAAA!!!!", "AAAAC3NzaC1", "AAAA/////w=="):
        with pytest.raises(ValueError):
            parse_host_key(garbage)


def test_skipping_the_host_key_check_is_refused_for_any_server_but_this_machine():
    with pytest.raises(HostKeyRefused, match="sandbox on this machine only"):
        with open_sftp("sftp.example.com", 22, "ledgerbridge", password="x", host_key=None, known_hosts=None,
                       no_host_key_check=True):
            pass
