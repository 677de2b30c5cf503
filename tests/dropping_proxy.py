"""A loopback HTTP proxy that forwards each request to the real server and, when told to, drops the
connection instead of returning the answer: the server has committed, the client never hears of it.
That is the failure that makes "exactly once" hard, reproduced with real sockets."""
from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from urllib.parse import urlsplit


def _read_message(sock: socket.socket, buffer: bytes) -> tuple[bytes | None, bytes]:
    """One HTTP/1.1 message with a Content-Length body (what requests and uvicorn send here)."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            return None, buffer
        buffer += chunk
    head, _, rest = buffer.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            return None, b""
        rest += chunk
    return head + b"\r\n\r\n" + rest[:length], rest[length:]


class DroppingProxy:
    def __init__(self, upstream_url: str, drop: Callable[[bytes], bool],
                 rewrite: Callable[[bytes], bytes] = lambda request: request):
        parts = urlsplit(upstream_url)
        self.upstream = (parts.hostname, parts.port)
        self.drop = drop
        self.rewrite = rewrite  # changes a request on its way (e.g. spoils a token)
        self.dropped = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._closing = False
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._closing = True
        self._listener.close()

    def _accept(self) -> None:
        while not self._closing:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        buffer = b""
        with client:
            while True:
                request, buffer = _read_message(client, buffer)
                if request is None:
                    return
                request = self.rewrite(request)
                with socket.create_connection(self.upstream) as upstream:
                    upstream.sendall(request)
                    response, _ = _read_message(upstream, b"")
                if response is None or self.drop(request):
                    self.dropped += 1
                    return  # the server has answered; the client is left with a dead connection
                client.sendall(response)
