"""One deadline for a whole outbound call: name lookup, TCP connect, TLS handshake, every send and read.

A socket timeout alone bounds each wait, and a server that sends one byte every few seconds never
trips it (issue 10: a delivery held for 94 s by a 10 s timeout). Here every wait gets only what is
left of one deadline (`time.monotonic()` based). The HTTP transports (`transports.post_json`) and
the SMTP backend below share it, so a trickling webhook and a trickling mail server fail alike: a
TimeoutError (an OSError) at the deadline, which the transports report as transient.
"""
from __future__ import annotations

import functools
import io
import ipaddress
import smtplib
import socket
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.core.mail.backends.smtp import EmailBackend
from django.core.mail.utils import DNS_NAME

T = TypeVar("T")


def remaining(deadline: float) -> float:
    """Seconds left until `deadline`; TimeoutError once there are none."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("timed out: no complete answer within the deadline")
    return left


class _DeadlineReader(io.RawIOBase):
    """Socket reads that share one deadline: each read may wait only for what is left of it."""

    def __init__(self, owner: DeadlineSocket) -> None:
        self.owner = owner

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self.owner.sock.settimeout(remaining(self.owner.deadline))
        return self.owner.sock.recv_into(buffer)

    def close(self) -> None:
        if not self.closed:
            self.owner.reader_closed()
        super().close()


class DeadlineSocket:
    """A connected socket (plain or TLS) as http.client and smtplib see it: every send and read
    under one deadline.

    Like socket.makefile(), an open reader keeps the socket open: http.client closes the
    connection before the body is read when the server says "Connection: close"."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock = sock
        self.deadline = deadline
        self._readers = 0
        self._close_asked = False

    def sendall(self, data: bytes) -> None:
        # One send() per wait, each with what is left: a TLS socket's sendall() would give every
        # chunk the full timeout again, and a server that reads slowly could stretch it.
        view = memoryview(data)
        while view:
            self.sock.settimeout(remaining(self.deadline))
            view = view[self.sock.send(view):]

    def makefile(self, mode: str = "rb", *args: Any, **kwargs: Any) -> io.BufferedReader:
        self._readers += 1
        return io.BufferedReader(_DeadlineReader(self))

    def reader_closed(self) -> None:
        self._readers -= 1
        if self._close_asked and not self._readers:
            self.sock.close()

    def close(self) -> None:
        self._close_asked = True
        if not self._readers:
            self.sock.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sock, name)


def _within(deadline: float, what: str, call: Callable[[], T]) -> T:
    """call() in a daemon thread, waited for until the deadline, for calls that take no timeout.

    At the deadline the caller gets TimeoutError and the thread is left to end by itself (a
    resolver gives up after its own retries, tens of seconds at most)."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:  # noqa: BLE001 (handed to the caller)
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True, name=what)
    thread.start()
    thread.join(remaining(deadline))
    if thread.is_alive():
        raise TimeoutError(f"timed out: {what} took longer than the deadline")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def resolve(host: str, port: int, deadline: float) -> list[tuple[Any, ...]]:
    """getaddrinfo() within the deadline (it takes no timeout). A literal IP address needs no lookup."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return _within(deadline, f"looking up {host}", lambda: socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
    return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)


def tls_wrap(sock: socket.socket, context: ssl.SSLContext, hostname: str, deadline: float) -> ssl.SSLSocket:
    """The TLS handshake on a connected socket with what is left of the deadline.

    Since Python 3.5 a socket timeout bounds the whole handshake, not each read of it (ssl docs,
    SSLSocket.do_handshake), so setting it to the remaining time is enough; the certificate and
    host name are checked as `context` says (the default context checks both)."""
    sock.settimeout(remaining(deadline))
    return context.wrap_socket(sock, server_hostname=hostname)


def connect(host: str, port: int, deadline: float, *, tls: ssl.SSLContext | None = None) -> DeadlineSocket:
    """A socket to host:port (over TLS when `tls` is given): lookup, connect and handshake, then
    every send and read, all within the one deadline."""
    error: OSError | None = None
    for family, kind, proto, _, address in resolve(host, port, deadline):
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(remaining(deadline))
            sock.connect(address)
        except OSError as exc:
            sock.close()
            if isinstance(exc, TimeoutError):
                raise  # the deadline is spent: no time for the next address
            error = exc
            continue
        try:
            return DeadlineSocket(tls_wrap(sock, tls, host, deadline) if tls else sock, deadline)
        except BaseException:
            sock.close()
            raise
    raise error or OSError(f"no address for {host}")


class _TLSUnderDeadline:
    """What smtplib's starttls() takes for an SSLContext: it hands over the DeadlineSocket, and
    gets back the same connection over TLS, still under the deadline."""

    def __init__(self, context: ssl.SSLContext, deadline: float) -> None:
        self.context = context
        self.deadline = deadline

    def wrap_socket(self, sock: DeadlineSocket, server_hostname: str | None = None) -> DeadlineSocket:
        return DeadlineSocket(tls_wrap(sock.sock, self.context, server_hostname or "", self.deadline), self.deadline)


class DeadlineSMTP(smtplib.SMTP):
    """smtplib.SMTP whose every wait, from the name lookup to QUIT, shares one deadline."""

    def __init__(self, *args: Any, deadline: float, **kwargs: Any) -> None:
        self.deadline = deadline  # before super().__init__(): it connects
        super().__init__(*args, **kwargs)

    def _get_socket(self, host: str, port: int, timeout: float) -> Any:
        context = self.context if isinstance(self, smtplib.SMTP_SSL) else None
        return connect(host, port, self.deadline, tls=context)

    def starttls(self, *, context: ssl.SSLContext | None = None) -> tuple[int, bytes]:  # type: ignore[override]
        return super().starttls(context=_TLSUnderDeadline(context or ssl.create_default_context(), self.deadline))  # type: ignore[arg-type]


class DeadlineSMTPSSL(DeadlineSMTP, smtplib.SMTP_SSL):
    """The same over implicit TLS (EMAIL_USE_SSL)."""


class DeadlineEmailBackend(EmailBackend):
    """Django's SMTP backend with one deadline (EMAIL_TIMEOUT) for a whole send: lookup, connect,
    TLS, login, each message and QUIT.

    Django gives EMAIL_TIMEOUT to every socket wait, so a server answering one byte every few
    seconds held a delivery until the task's soft limit. The deadline starts when a connection
    is opened: the alert transport opens one per message."""

    def open(self) -> bool | None:
        if not self.connection:
            self.deadline = time.monotonic() + (self.timeout if self.timeout is not None else 10)
            # Django names this machine in EHLO with socket.getfqdn(), a DNS query without a
            # timeout, cached once it has an answer: look it up within the deadline too.
            _within(self.deadline, "looking up this machine's name", DNS_NAME.get_fqdn)
        return super().open()

    @property
    def connection_class(self) -> Any:  # type: ignore[override]
        return functools.partial(DeadlineSMTPSSL if self.use_ssl else DeadlineSMTP, deadline=self.deadline)
