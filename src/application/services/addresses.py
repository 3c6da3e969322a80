"""Where measured runs may send requests, checked when an endpoint is stored or changed and again
before each run (a name can come to point elsewhere).

A base URL is http(s) with a host and nothing else secret in it: no user:password (a key goes in
an environment variable the endpoint names). Every address its host resolves to must be public,
or inside a network the operator allowed (ENDPOINT_ALLOWED_NETWORKS: a local vLLM, a private
VPC). Link-local addresses (169.254.0.0/16, fe80::/10: where cloud metadata services answer, with
the host's credentials) and the metadata services' names are refused whatever is allowed.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from urllib.parse import urlsplit

from src.application.domain.errors import InvalidParameter

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
METADATA_HOSTS = frozenset({"metadata", "metadata.google.internal", "instance-data", "instance-data.ec2.internal"})
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # a translator delivers to the IPv4 address in its last 32 bits
# Not public though Python's is_global says so: a local-use NAT64 prefix places the IPv4 address
# as its operator chose, and an IPv4-compatible address (deprecated) may be tunnelled to it.
NOT_PUBLIC = (ipaddress.IPv6Network("64:ff9b:1::/48"), ipaddress.IPv6Network("::/96"))


def url_host(base_url: str) -> str:
    """The host of a base URL a measured run may use, or InvalidParameter saying what is wrong."""
    if len(base_url) > 500:
        raise InvalidParameter("base_url must be at most 500 characters", parameter="base_url")
    try:
        parts = urlsplit(base_url)
        parts.port  # noqa: B018 - parsing it refuses a port that is not a number
    except ValueError as error:
        raise InvalidParameter(f"base_url is not a URL: {error}", parameter="base_url") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidParameter(f"base_url must be an http(s) URL with a host, got {base_url[:100]!r}",
                               parameter="base_url", choices=["http", "https"])  # fmt: skip
    if parts.username is not None or parts.password is not None:
        raise InvalidParameter("base_url must not carry credentials (user:password@): name the variable that holds "
                               "the key in api_key_env", parameter="base_url")  # fmt: skip
    if parts.query or parts.fragment:
        raise InvalidParameter("base_url must have no query or fragment: requests go to <base_url>/chat/completions",
                               parameter="base_url")  # fmt: skip
    if parts.hostname.rstrip(".").lower() in METADATA_HOSTS:
        raise InvalidParameter(f"base_url names a cloud metadata service ({parts.hostname})", parameter="base_url")
    return parts.hostname


def check_addresses(host: str, addresses: Sequence[str], allowed: Sequence[Network]) -> None:
    """Refuses a host that resolves to a link-local address, or to a private one no allowed network holds."""
    for text in addresses:
        address = delivered_to(ipaddress.ip_address(text))
        if address.is_link_local:
            raise InvalidParameter(f"base_url's host {host} is at the link-local address {address}, where cloud "
                                   "metadata services answer: refused", parameter="base_url")  # fmt: skip
        if any(address in network for network in allowed):
            continue
        if not address.is_global or any(address in network for network in NOT_PUBLIC):
            shown = ", ".join(str(n) for n in allowed) or "none"
            message = (f"base_url's host {host} is at the private address {address}; allow its network in "
                       f"ENDPOINT_ALLOWED_NETWORKS (allowed now: {shown})")  # fmt: skip
            raise InvalidParameter(message, parameter="base_url")


def delivered_to(address: Address) -> Address:
    """The IPv4 address an IPv6 one carries and is delivered to (IPv4-mapped, NAT64, 6to4); else itself."""
    if isinstance(address, ipaddress.IPv4Address):
        return address
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
    return address.ipv4_mapped or address.sixtofour or address


def networks(cidrs: Sequence[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(cidr.strip(), strict=False) for cidr in cidrs if cidr.strip())
