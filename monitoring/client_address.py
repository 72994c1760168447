"""The real client address: X-Forwarded-For is believed only when a trusted proxy passes it on.

Behind nginx or Caddy on the same host, every request's peer (REMOTE_ADDR) is the proxy, so the
/metrics allow-list, the login lockout and the logs all saw 127.0.0.1. TRUSTED_PROXIES (addresses
and networks) names the proxies whose X-Forwarded-For we believe:
  - peer not trusted (the default: TRUSTED_PROXIES is empty) -> the peer is the client; any
    X-Forwarded-For it sent is the client's own words and ignored;
  - peer trusted -> walk X-Forwarded-For from the right (the hop our proxy appended), skipping
    trusted proxies; the first address that is not one of them is the client. Entries left of
    it were written by the client and prove nothing.
Header parsing (ports, IPv6 brackets, IPv4-mapped addresses, RFC 7239 tokens) is python-ipware's,
the engine of django-ipware (which django-axes also uses); the trust walk is ours, because
ipware's proxy list is positional (one entry per hop) while TRUSTED_PROXIES is a set of networks.

RealClientAddressMiddleware runs first and puts the answer in REMOTE_ADDR (the peer stays in
PEER_ADDR), so everything downstream (the /metrics allow-list, django-axes, Django's own
security logs) uses the real address without knowing about proxies.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Callable
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from python_ipware.modern.parsers import parse_ip, split_proxy_chain

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
PEER_ADDR = "PEER_ADDR"


@lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    try:
        return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)
    except ValueError as exc:
        raise ImproperlyConfigured(f"TRUSTED_PROXIES: {exc}") from None


def trusted_networks() -> tuple[Network, ...]:
    return _networks(tuple(getattr(settings, "TRUSTED_PROXIES", ())))


def is_trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address | None) -> bool:
    return address is not None and any(
        address.version == network.version and address in network for network in trusted_networks()
    )


def real_client_address(meta: dict) -> str:
    """The client's address from a request's META (see the module docstring)."""
    raw_peer = meta.get(PEER_ADDR, meta.get("REMOTE_ADDR", "")) or ""
    peer = parse_ip(raw_peer)
    if not is_trusted(peer):
        return str(peer) if peer is not None else raw_peer
    # strict: one malformed token and the whole header is refused (the peer is then the answer).
    chain = split_proxy_chain(meta.get("HTTP_X_FORWARDED_FOR", ""), strict=True) or []
    for hop in reversed(chain):
        if not is_trusted(hop):
            return str(hop)
    # Only trusted hops (a health check from the proxy itself): the left-most is the origin.
    return str(chain[0] if chain else peer)


class RealClientAddressMiddleware:
    """Sets REMOTE_ADDR to the real client address; keeps the peer in META['PEER_ADDR']."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.META.setdefault(PEER_ADDR, request.META.get("REMOTE_ADDR", ""))
        request.META["REMOTE_ADDR"] = real_client_address(request.META)
        return self.get_response(request)


def axes_client_address(request: HttpRequest) -> str:
    """django-axes' AXES_CLIENT_IP_CALLABLE: the same answer, also for requests the middleware did not see."""
    return real_client_address(request.META)
