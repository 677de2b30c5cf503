"""FileDropHook: an Airflow `sftp` connection becomes a verified SFTP session; verification is the default."""
from __future__ import annotations

import json

import pytest
from ledgerbridge.filedrop.sftp import HostKeyRefused
from ledgerbridge.sandbox.sftp import public_key_line

CONN_ID = "lb_file_drop_test"


def set_connection(monkeypatch, target, local, auth: str | None = None, **extra):
    """The connection as an AIRFLOW_CONN_ variable; logs in with a password, a key file or a key's text."""
    auth = auth or ("password" if "password" in target.credentials else "key_file")
    connection = {"conn_type": "sftp", "host": target.host, "port": target.port, "login": target.user,
                  "extra": {"root": target.remote(local), **extra}}
    if auth == "password":
        connection["password"] = target.credentials["password"]
    elif auth == "key_file":
        connection["extra"]["key_file"] = str(target.client_key)
    else:
        connection["extra"]["private_key"] = target.client_key.read_text()
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(connection))


def hook():
    from ledgerbridge_airflow.hooks.sftp_drop import FileDropHook

    return FileDropHook(CONN_ID)


def test_a_connection_with_its_host_key_opens_the_drop(monkeypatch, target, drop_dir):
    set_connection(monkeypatch, target, drop_dir, host_key=target.host_key_line)
    with hook().get_conn() as fs:
        fs.mkdir("acme_us/to_accounting/bills")
        fs.write_bytes("acme_us/to_accounting/bills/x.json", b"{}")
    assert (drop_dir / "acme_us/to_accounting/bills/x.json").read_bytes() == b"{}"


@pytest.mark.parametrize("auth", ["key_file", "private_key"])
def test_a_key_in_the_extra_logs_in(monkeypatch, target, drop_dir, auth):
    set_connection(monkeypatch, target, drop_dir, auth=auth, host_key=target.host_key_line)
    with hook().get_conn() as fs:
        assert fs.list("") == []


def test_a_wrong_host_key_is_refused(monkeypatch, target, drop_dir):
    import asyncssh

    set_connection(monkeypatch, target, drop_dir,
                   host_key=public_key_line(asyncssh.generate_private_key("ssh-ed25519")))
    with (pytest.raises(HostKeyRefused, match="does not match the connection's host_key: refusing to connect"),
          hook().get_conn()):
        pass


def test_without_host_key_the_hook_refuses_instead_of_trusting(monkeypatch, target, drop_dir):
    set_connection(monkeypatch, target, drop_dir)
    with pytest.raises(HostKeyRefused, match="no host_key and no known_hosts given"), hook().get_conn():
        pass


def test_allow_host_key_change_does_not_switch_verification_off(monkeypatch, target, drop_dir):
    set_connection(monkeypatch, target, drop_dir, allow_host_key_change="true")
    with pytest.raises(HostKeyRefused), hook().get_conn():
        pass


def test_no_host_key_check_only_when_asked(monkeypatch, target, drop_dir, caplog):
    set_connection(monkeypatch, target, drop_dir, no_host_key_check="true")
    with hook().get_conn() as fs:
        assert fs.list("") == []
    assert "host key NOT verified" in caplog.text


def test_the_connection_form_hints_at_the_host_key():
    from ledgerbridge_airflow.hooks.sftp_drop import FileDropHook

    form = FileDropHook.get_ui_field_behaviour()
    assert "host_key" in form["placeholders"]["extra"]
    assert form["relabeling"]["login"] == "Username"
