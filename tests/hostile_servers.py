"""Real local servers that behave badly, for deadline and chaos tests (never mocks): 127.0.0.1 only.

- silent_server / HungServer: accepts TCP connections and never sends a byte (a hung Redis, an
  SMTP server that accepts and says nothing).
- slow_loris_http_server / SlowLorisHTTPServer: reads the request, then answers one byte every
  `interval` seconds, so a per-read socket timeout never fires while the request never ends.
- TcpProxy / FaultProxy: forwards to a real server (PostgreSQL, Redis) and can be switched, while
  clients are connected, between passing traffic, hanging (accepts, forwards nothing) and down
  (every connection cut, the port refuses new ones), as an outage looks from the client side.
- RecordingServer: the well-behaved HTTP server the others are compared with (a healthy channel);
  over HTTPS with a certificate from tls_certificates() (a throwaway CA made with openssl).
- RecordingSMTPServer: a well-behaved SMTP server (plain, no authentication) that keeps every
  message it accepts, for a program that sends e-mail by itself (n8n).
- SlowLorisSMTPServer: the same, but every reply, the greeting first, goes out one byte at a time.
- SlowLorisTLSServer: accepts TCP and trickles its TLS handshake one byte at a time.
- slow_name_lookup: the one stand-in, a name whose lookup takes as long as the test says.

The class forms can be switched off (`hostile = False`): they then reset every connection at once,
a fast failure, so a soak (benchmarks/soak.py) turns a fault on and off in turn on one port. The
asyncio ones share nothing: each runs its own loop in a daemon thread; use them as context managers.
"""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import email
import email.policy
import json
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Coroutine, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


class _LoopServer:
    """An asyncio server on 127.0.0.1 (free port), on its own loop in a daemon thread.

    Set `tls` (a server context, TLSFiles.server_context()) before entering to speak over TLS."""

    tls: ssl.SSLContext | None = None

    def __init__(self, port: int = 0) -> None:
        self.port = port or closed_port()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True, name=type(self).__name__)
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.connections = 0  # accepted so far
        self._hostile = True

    @property
    def hostile(self) -> bool:
        return self._hostile

    @hostile.setter
    def hostile(self, value: bool) -> None:
        """Switch the fault on or off; off also cuts the connections it holds (the endpoint recovered)."""
        self._hostile = value
        if not value and self.thread.is_alive():
            self.loop.call_soon_threadsafe(self._abort_all)

    def __enter__(self) -> _LoopServer:
        self.thread.start()
        self.call(self._listen())
        return self

    def __exit__(self, *exc: object) -> None:
        self.call(self._close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)

    def call(self, coroutine: Coroutine[Any, Any, Any], timeout: float = 10) -> Any:
        """Run `coroutine` on the server's loop from another thread and return its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._accepted, "127.0.0.1", self.port, reuse_address=True, ssl=self.tls
        )

    async def _stop_listening(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _close(self) -> None:
        await self._stop_listening()
        self._abort_all()
        # Handlers still waiting (a hung client, a trickle) end here, not as "Task was destroyed" noise.
        pending = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    def _abort_all(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        try:
            await self.handle(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, OSError):
            pass
        except asyncio.CancelledError:
            # Cancelled by _close(): end quietly, or asyncio logs the cancellation as an error.
            pass
        finally:
            self._writers.discard(writer)
            writer.transport.abort()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError


class HungServer(_LoopServer):
    """Accepts and never answers (reads and drops what the client sends); `hostile = False` resets at once."""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.hostile:
            return  # the finally clause resets the connection: a fast failure
        while await reader.read(65536):
            pass


class SlowLorisHTTPServer(_LoopServer):
    """Reads one HTTP request, then sends a 200 answer one byte every `trickle` seconds, forever."""

    def __init__(self, port: int = 0, *, trickle: float = 2.0) -> None:
        super().__init__(port)
        self.trickle = trickle
        self.requests: list[float] = []  # when each request was fully read (time.time())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.hostile:
            return
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        if length:
            await reader.readexactly(length)
        self.requests.append(time.time())
        answer = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n"
        while True:
            for byte in answer:
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(self.trickle)
            answer = b" " * 1000


class FaultProxy(_LoopServer):
    """A TCP proxy to `target` (host, port) with three modes: "pass", "hang" and "down".

    - pass: bytes flow both ways.
    - hang: new connections are accepted and get nothing; connections already open stop moving
      bytes in both directions (a server that stopped answering, such as a frozen Redis).
    - down: every connection is dropped and the port refuses new ones (a restarting server).
    Leaving "hang" drops the hung connections too: requests were swallowed, so their byte streams
    no longer line up, and a real client would time out on them anyway.
    """

    def __init__(self, target: tuple[str, int], port: int = 0) -> None:
        super().__init__(port)
        self.target = target
        self.mode = "pass"

    def set_mode(self, mode: str) -> None:
        if mode not in {"pass", "hang", "down"}:
            raise ValueError(mode)
        self.call(self._set_mode(mode))

    async def _set_mode(self, mode: str) -> None:
        previous, self.mode = self.mode, mode
        if mode == previous:
            return
        if mode == "down":
            await self._stop_listening()
            self._abort_all()
        elif previous == "hang":
            self._abort_all()
        if mode != "down" and self._server is None:
            await self._listen()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.mode == "hang":
            while await reader.read(65536):
                pass
            return
        upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        self._writers.add(upstream_writer)
        try:
            await asyncio.gather(self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer))
        finally:
            self._writers.discard(upstream_writer)
            upstream_writer.transport.abort()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            if self.mode != "pass":
                continue  # hung: swallow, never forward
            writer.write(data)
            await writer.drain()
        # One side closed: close the other, so neither end waits on a half-open pair.
        with contextlib.suppress(Exception):
            writer.transport.abort()


class RecordingSMTPServer(_LoopServer):
    """Speaks just enough SMTP (RFC 5321: EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT) to accept mail.

    It offers no AUTH, and STARTTLS only when `starttls` is set (a server context,
    TLSFiles.server_context()), so a client configured without TLS and without a user sends in
    plain text. Each accepted message is kept in `messages` as
    {"mail_from", "rcpt_to", "message" (an email.message.EmailMessage), "at"}.
    """

    def __init__(self, port: int = 0) -> None:
        super().__init__(port)
        self.messages: list[dict[str, Any]] = []
        self.received = threading.Event()  # set on each accepted message
        self.starttls: ssl.SSLContext | None = None

    async def send_line(self, writer: asyncio.StreamWriter, line: bytes) -> None:
        writer.write(line)
        await writer.drain()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async def reply(line: str) -> None:
            await self.send_line(writer, line.encode() + b"\r\n")

        await reply("220 127.0.0.1 ESMTP recording server")
        mail_from, rcpt_to = "", []
        while line := await asyncio.wait_for(reader.readline(), timeout=30):
            verb, _, argument = line.decode("utf-8", "replace").rstrip("\r\n").partition(" ")
            verb = verb.upper()
            if verb == "EHLO":
                await reply("250-127.0.0.1")
                if self.starttls is not None and writer.get_extra_info("sslcontext") is None:
                    await reply("250-STARTTLS")
                await reply("250-8BITMIME")
                await reply("250 SMTPUTF8")
            elif verb == "HELO":
                await reply("250 127.0.0.1")
            elif verb == "MAIL":
                mail_from, rcpt_to = argument.partition(":")[2].split(" ")[0].strip("<>"), []
                await reply("250 OK")
            elif verb == "RCPT":
                rcpt_to.append(argument.partition(":")[2].split(" ")[0].strip("<>"))
                await reply("250 OK")
            elif verb == "DATA":
                await reply("354 End data with <CR><LF>.<CR><LF>")
                lines = []
                while (data_line := await asyncio.wait_for(reader.readline(), timeout=30)) not in (b".\r\n", b".\n"):
                    if not data_line:
                        return
                    lines.append(data_line[1:] if data_line.startswith(b".") else data_line)  # dot-stuffing
                self.messages.append({
                    "mail_from": mail_from, "rcpt_to": rcpt_to, "at": time.time(),
                    "message": email.message_from_bytes(b"".join(lines), policy=email.policy.default),
                })
                self.received.set()
                await reply("250 OK: queued")
            elif verb == "STARTTLS" and self.starttls is not None:
                await reply("220 Ready to start TLS")
                await writer.start_tls(self.starttls)
            elif verb in {"RSET", "NOOP"}:
                await reply("250 OK")
            elif verb == "QUIT":
                await reply("221 Bye")
                return
            else:
                await reply("502 Command not implemented")


class SlowLorisSMTPServer(RecordingSMTPServer):
    """The SMTP server above, but every reply (the greeting first) goes out one byte every
    `trickle` seconds: each read gets a byte well within a per-read timeout, and no reply ends."""

    def __init__(self, port: int = 0, *, trickle: float = 0.5) -> None:
        super().__init__(port)
        self.trickle = trickle

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.hostile:
            return
        await super().handle(reader, writer)

    async def send_line(self, writer: asyncio.StreamWriter, line: bytes) -> None:
        for byte in line:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(self.trickle)


class SlowLorisTLSServer(_LoopServer):
    """Accepts TCP and speaks real TLS (`context`, a server context with a certificate), but sends
    its handshake one byte every `trickle` seconds, so the handshake takes minutes and every read
    of it gets a byte well within a per-read timeout."""

    def __init__(self, context: ssl.SSLContext, port: int = 0, *, trickle: float = 0.2) -> None:
        super().__init__(port)
        self.context = context
        self.trickle = trickle

    @property
    def url(self) -> str:
        return f"https://localhost:{self.port}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.hostile:
            return
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = self.context.wrap_bio(incoming, outgoing, server_side=True)
        while True:
            with contextlib.suppress(ssl.SSLWantReadError):
                tls.do_handshake()
            for byte in outgoing.read():
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(self.trickle)
            data = await reader.read(65536)
            if not data:
                return
            incoming.write(data)


@dataclasses.dataclass(frozen=True)
class TLSFiles:
    ca: Path  # the test CA's certificate: what a client trusts (SSL_CERT_FILE)
    cert: Path  # the server's certificate, for localhost and 127.0.0.1, signed by the CA
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context


def tls_certificates(directory: Path) -> TLSFiles:
    """A throwaway CA and a server certificate it signed (localhost, 127.0.0.1), made with the
    openssl command in `directory`: a certificate that verifies, as a real webhook's does."""
    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True, timeout=30)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=LeadSync test CA",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
    (directory / "server.ext").write_text(
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
        "authorityKeyIdentifier=keyid\nsubjectKeyIdentifier=hash\n"
    )
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "2", "-extfile", "server.ext", "-out", "server.pem")
    return TLSFiles(ca=directory / "ca.pem", cert=directory / "server.pem", key=directory / "server.key")


@contextlib.contextmanager
def slow_name_lookup(name: str, seconds: float) -> Iterator[None]:
    """Looking up `name` takes `seconds` (then resolves as 127.0.0.1); every other name is untouched.

    The one stand-in among these servers: the system resolver cannot be pointed at a local DNS
    server without root, so socket.getaddrinfo itself waits. Waits still running at the end of
    the block are released, so no thread outlives the test."""
    real = socket.getaddrinfo
    released = threading.Event()

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == name:
            released.wait(seconds)
            host = "127.0.0.1"
        return real(host, port, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo  # type: ignore[assignment]
    try:
        yield
    finally:
        socket.getaddrinfo = real  # type: ignore[assignment]
        released.set()


def closed_port() -> int:
    """A port nobody listens on right now (the OS's choice): connecting to it is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def silent_server() -> Iterator[int]:
    """A port that accepts connections and then says nothing, ever."""
    with HungServer() as server:
        yield server.port


@contextlib.contextmanager
def slow_loris_http_server(interval: float = 1.0) -> Iterator[int]:
    """Reads a request, then trickles a never-ending HTTP response, one byte per `interval`."""
    with SlowLorisHTTPServer(trickle=interval) as server:
        yield server.port


class TcpProxy(FaultProxy):
    """127.0.0.1:<port> -> target; stop() cuts every connection and refuses new ones, start() resumes."""

    def __init__(self, target_host: str, target_port: int) -> None:
        super().__init__((target_host, target_port))
        self._started = False

    def start(self) -> None:
        if not self._started:
            self._started = True
            self.__enter__()
        else:
            self.set_mode("pass")

    def stop(self) -> None:
        if self._started:
            self.set_mode("down")


def elapsed(fn, *args, **kwargs):  # noqa: ANN001, ANN201
    """(result, seconds) of one call."""
    started = time.monotonic()
    result = fn(*args, **kwargs)
    return result, time.monotonic() - started


class RecordingServer:
    """A well-behaved HTTP server on 127.0.0.1 in a thread: records JSON bodies (and when), answers with queued statuses."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.requests: list[dict] = []
        self.statuses: list[int] = []  # answered in order; 200 once empty
        self.delay = 0.0
        # A server that quotes the request back in its error (as proxies and some APIs do): the
        # URL it was called on, secret path and all, so a test can see the secret stay hidden.
        self.echo = False
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server API)
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                outer.requests.append(
                    {"path": self.path, "json": json.loads(body), "headers": dict(self.headers), "at": time.time()}
                )
                if outer.delay:
                    threading.Event().wait(outer.delay)
                status = outer.statuses.pop(0) if outer.statuses else 200
                answer = b'{"ok": true}' if status < 400 else b'{"ok": false, "description": "nope"}'
                if outer.echo and status >= 400:
                    url = f"{outer.url}{self.path}"
                    answer = json.dumps({"ok": False, "description": f"rejected {url} (path {self.path})"}).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        if tls is not None:
            # HTTPS (a server context from TLSFiles); the handshake runs in the request's thread.
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True, do_handshake_on_connect=False)
            self.url = f"https://localhost:{self.server.server_address[1]}"
            # A client refusing the certificate is what some tests want: no traceback for it.
            self.server.handle_error = lambda request, client_address: None  # type: ignore[method-assign]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> RecordingServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
