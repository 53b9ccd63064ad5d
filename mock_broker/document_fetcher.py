"""Fetching a URL the client chose, safely: the transport of Client ID Metadata Documents (B7).

A CIMD `client_id` makes the broker fetch a URL an anonymous party picked, so the fetch is
built to be boring:

- **SSRF guard.** The hostname is resolved once, and *every* address it resolves to must be
  public (not private, loopback, link-local, reserved, multicast, unspecified, shared/CGNAT;
  IPv4-mapped and NAT64 IPv6 addresses are judged by the IPv4 address inside). Only the
  development setting `CIMD_ALLOW_PRIVATE_ADDRESSES` lifts this.
- **Pinned connection.** The connection goes to the address that was checked — urllib3's
  HTTPS pool is given the IP, while TLS SNI, certificate verification and the `Host` header
  use the hostname. There is no second DNS lookup, so a DNS-rebinding answer between check
  and connect cannot redirect the fetch. (requests would resolve again on its own; a custom
  requests adapter could pin too, but urllib3 directly is less code and follows no redirects
  by default.)
- **Verified TLS, always**: certifi's bundle, or the `CIMD_CA_FILE` bundle (tests use a
  throwaway trustme CA). Verification is never switched off.
- **No redirects** (a 3xx is an error), **only 200 counts**, **5 KB cap** (streamed, stops at
  the cap), **time cap**: connect and each read are bounded by `timeout`, and so is the whole
  fetch (checked between chunks), so a server dripping bytes cannot hold a worker.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import certifi
import urllib3
from urllib3.exceptions import HTTPError

Resolver = Callable[[str, int], list[str]]

_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class FetchError(Exception):
    """The document could not be fetched; the message says why (safe to show)."""


@dataclass(frozen=True)
class FetchedDocument:
    body: bytes
    headers: dict[str, str]  # lower-case names


def is_public_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """True only for globally routable unicast addresses."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return is_public_address(address.ipv4_mapped)
        if address in _NAT64:
            return is_public_address(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return address.is_global and not (
        address.is_multicast
        or address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_reserved
        or address.is_unspecified
    )


def system_resolver(hostname: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(hostname, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def checked_address(
    hostname: str, port: int, allow_private: bool, resolver: Resolver | None = None
) -> str:
    """Resolve `hostname` once; the address to connect to, if every answer is allowed."""
    try:
        addresses = [ipaddress.ip_address(hostname)]
    except ValueError:
        try:
            answers = (resolver or system_resolver)(hostname, port)
            addresses = [ipaddress.ip_address(answer.split("%")[0]) for answer in answers]
        except (OSError, ValueError, UnicodeError) as error:
            raise FetchError(f"the host name {hostname} could not be resolved") from error
    if not addresses:
        raise FetchError(f"the host name {hostname} could not be resolved")
    if not allow_private and not all(is_public_address(address) for address in addresses):
        raise FetchError(
            f"{hostname} resolves to a private, loopback, link-local or reserved address"
        )
    return str(addresses[0])


def fetch(
    url: str,
    *,
    max_bytes: int,
    timeout: float,
    allow_private: bool = False,
    ca_file: str | None = None,
    resolver: Resolver | None = None,
) -> FetchedDocument:
    """GET an https `url` under the rules in the module docstring; raises FetchError."""
    parts = urlsplit(url)
    hostname, port = parts.hostname or "", parts.port or 443
    address = checked_address(hostname, port, allow_private, resolver)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host_header = hostname if port == 443 else f"{hostname}:{port}"
    if ":" in hostname:  # an IPv6 literal
        host_header = f"[{hostname}]" if port == 443 else f"[{hostname}]:{port}"
    pool = urllib3.HTTPSConnectionPool(
        address,
        port=port,
        server_hostname=hostname,
        assert_hostname=hostname,
        cert_reqs="CERT_REQUIRED",
        ca_certs=ca_file or certifi.where(),
        timeout=urllib3.Timeout(connect=timeout, read=timeout),
        retries=False,
        maxsize=1,
    )
    deadline = time.monotonic() + timeout
    try:
        response = pool.urlopen(
            "GET",
            target,
            headers={"Host": host_header, "Accept": "application/json"},
            redirect=False,
            retries=False,
            preload_content=False,
            assert_same_host=False,
        )
        try:
            return _read(response, max_bytes, deadline)
        finally:
            response.release_conn()
    except HTTPError as error:
        raise FetchError(f"the fetch failed ({type(error).__name__})") from error
    except OSError as error:
        raise FetchError("the connection failed") from error
    finally:
        pool.close()


def _read(response: urllib3.BaseHTTPResponse, max_bytes: int, deadline: float) -> FetchedDocument:
    if 300 <= response.status < 400:
        raise FetchError(f"it answered a redirect ({response.status}), which is not followed")
    if response.status != 200:
        raise FetchError(f"it answered HTTP {response.status}, not 200")
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise FetchError(f"the document is larger than {max_bytes} bytes")
    body = bytearray()
    for chunk in response.stream(1024, decode_content=True):
        body += chunk
        if len(body) > max_bytes:
            raise FetchError(f"the document is larger than {max_bytes} bytes")
        if time.monotonic() > deadline:
            raise FetchError("the fetch took too long")
    headers = {name.lower(): value for name, value in response.headers.items()}
    return FetchedDocument(body=bytes(body), headers=headers)
