"""Real local servers that behave badly, for deadline tests (never mocks): each runs in a thread on
127.0.0.1, yields its port and closes every socket on exit.

- silent_server: accepts connections and never sends a byte (a hung Redis, a hung SMTP server).
- slow_loris_http_server: reads the request, then answers one byte every `interval` seconds.
- TcpProxy: forwards to a real server and can be stopped (connections cut, port refuses) and
  started again on the same port (a database outage and its end).
"""
from __future__ import annotations

import contextlib
import select
import socket
import threading
import time
from collections.abc import Iterator


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _listener(port: int = 0) -> socket.socket:
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen(64)
    server.settimeout(0.1)
    return server


@contextlib.contextmanager
def silent_server() -> Iterator[int]:
    """A port that accepts connections and then says nothing, ever."""
    server = _listener()
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except (TimeoutError, OSError):
                continue
            held.append(conn)  # kept open and unread: the client waits for an answer

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(2)
        for conn in held:
            conn.close()
        server.close()


@contextlib.contextmanager
def slow_loris_http_server(interval: float = 1.0) -> Iterator[int]:
    """Reads a request, then trickles a never-ending HTTP response, one byte per `interval`."""
    server = _listener()
    stop = threading.Event()
    answer = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Slow: " + b"z" * 10_000

    def serve(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            with contextlib.suppress(OSError):
                conn.recv(65536)
                for byte in answer:
                    if stop.wait(interval):
                        return
                    conn.sendall(bytes([byte]))

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(2)
        server.close()


class TcpProxy:
    """127.0.0.1:<port> -> target; stop() cuts every connection and refuses new ones, start() resumes."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = closed_port()
        self._server: socket.socket | None = None
        self._stop = threading.Event()
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._server = _listener(self.port)
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(2)
        if self._server:
            self._server.close()
        with self._lock:
            for conn in self._conns:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                conn.close()
            self._conns.clear()

    def _accept(self) -> None:
        assert self._server is not None
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except (TimeoutError, OSError):
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=2)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()

    def _pipe(self, a: socket.socket, b: socket.socket) -> None:
        try:
            while not self._stop.is_set():
                readable, _, _ = select.select([a, b], [], [], 0.2)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (b if sock is a else a).sendall(data)
        except (OSError, ValueError):
            return
        finally:
            for sock in (a, b):
                with contextlib.suppress(OSError):
                    sock.close()


def elapsed(fn, *args, **kwargs):  # noqa: ANN001, ANN201
    """(result, seconds) of one call."""
    started = time.monotonic()
    result = fn(*args, **kwargs)
    return result, time.monotonic() - started
