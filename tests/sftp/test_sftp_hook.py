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


def set_key_connection(monkeypatch, target, local, private_key: str, **extra):
    """A connection of LedgerBridge's own type logging in with the text of a key only."""
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps({
        "conn_type": "ledgerbridge_file_drop", "host": target.host, "port": target.port, "login": target.user,
        "extra": {"root": target.remote(local), "private_key": private_key, "company_id": "QBD-acme", **extra}}))


def test_a_passphrase_protected_key_logs_in_through_the_hook_and_the_factory(monkeypatch, target, drop_dir):
    import asyncssh
    from ledgerbridge.connectors.factory import build_connector
    from ledgerbridge.registry import LegalEntity

    locked = asyncssh.read_private_key(target.client_key).export_private_key(passphrase="open sesame").decode()
    set_key_connection(monkeypatch, target, drop_dir, locked, private_key_passphrase="open sesame",
                       host_key=target.host_key_line)
    with hook().get_conn() as fs:
        assert fs.list("") == []
    entity = LegalEntity.model_validate({"id": "acme", "name": "Acme", "base_currency": "USD",
                                         "accounting": {"kind": "quickbooks_desktop", "conn_id": CONN_ID}})
    with build_connector(entity, hook().settings(), None).open_fs() as fs:
        assert fs.list("") == []


def test_a_key_that_cannot_be_read_is_named_without_quoting_it(monkeypatch, target, drop_dir):
    from ledgerbridge.connectors.factory import ConnectionSettingsError

    garbage = "-----BEGIN OPENSSH PRIVATE KEY-----\nnot-a-key-at-all\n-----END OPENSSH PRIVATE KEY-----\n"
    set_key_connection(monkeypatch, target, drop_dir, garbage, host_key=target.host_key_line)
    with pytest.raises(ConnectionSettingsError, match="extra private_key: not a readable private key") as refused:
        hook().get_conn()
    assert "not-a-key-at-all" not in str(refused.value)


# -- the Test button (test_connection) ----------------------------------------------------------


def test_the_test_button_opens_the_drop_probes_its_root_and_names_the_entities(monkeypatch, target, drop_dir):
    (drop_dir / "acme_us" / "to_accounting").mkdir(parents=True)
    set_connection(monkeypatch, target, drop_dir, host_key=target.host_key_line, company_id="QBD-acme")
    ok, message = hook().test_connection()
    assert ok, message
    assert "host key verified" in message and "readable and writable" in message
    assert "entity directories: acme_us" in message
    assert sorted(p.name for p in drop_dir.iterdir()) == ["acme_us"]  # the probe file is gone
    assert target.credentials.get("password", "sandbox-password") not in message


def test_the_test_button_refuses_a_wrong_host_key_saying_so(monkeypatch, target, drop_dir):
    import asyncssh

    set_connection(monkeypatch, target, drop_dir, company_id="QBD-acme",
                   host_key=public_key_line(asyncssh.generate_private_key("ssh-ed25519")))
    ok, message = hook().test_connection()
    assert not ok
    assert message.startswith("HostKeyRefused: host key of")
    assert "does not match the connection's host_key: refusing to connect" in message
    assert not any(drop_dir.iterdir())


def test_the_test_button_fails_on_a_missing_root_or_a_missing_company_id(monkeypatch, target, drop_dir):
    set_connection(monkeypatch, target, drop_dir / "nowhere", host_key=target.host_key_line, company_id="QBD-acme")
    ok, message = hook().test_connection()
    assert not ok and "the drop root is not a directory" in message
    set_connection(monkeypatch, target, drop_dir, host_key=target.host_key_line)
    ok, message = hook().test_connection()
    assert not ok and "readable and writable" in message and "company_id" in message and "missing" in message


def test_the_test_button_checks_a_local_folder_without_creating_it(monkeypatch, tmp_path):
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps({
        "conn_type": "ledgerbridge_file_drop", "extra": {"local_root": str(tmp_path), "company_id": "QBD-acme"}}))
    ok, message = hook().test_connection()
    assert ok and message.startswith(f"file drop folder {tmp_path}: readable and writable"), message
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps({
        "conn_type": "ledgerbridge_file_drop", "extra": {"local_root": str(tmp_path / "gone"), "company_id": "x"}}))
    ok, message = hook().test_connection()
    assert not ok and "No such file or directory" in message
    assert not (tmp_path / "gone").exists()
