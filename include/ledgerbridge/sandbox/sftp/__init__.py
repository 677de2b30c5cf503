"""An embedded SSH/SFTP server (asyncssh) serving a local directory: the file drop without a system sshd.

`serve_in_thread(root, users={"ledgerbridge": "secret"})` returns a running server with `.port`,
`.host_key_line` and `.stop()`; `python -m ledgerbridge.sandbox.sftp --root DIR --port N` runs one.
"""
from .runner import main
from .server import (
    SFTPSandboxServer,
    SFTPUser,
    load_or_create_host_key,
    public_key_line,
    serve_in_thread,
)

__all__ = ["SFTPSandboxServer", "SFTPUser", "load_or_create_host_key", "main", "public_key_line", "serve_in_thread"]
