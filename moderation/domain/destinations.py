"""Where webhooks may go: public addresses, and what the operator allows besides.

A webhook is a request this service makes to a URL an admin chose, so without a check it
would reach whatever the service's network reaches: the cloud's metadata endpoint, the
database, an admin port on loopback. This module decides, purely, whether a host or an
address may receive a webhook:

* at registration, :func:`url_refusal` refuses a URL whose host *is* a non-public address
  (in any spelling ``inet_aton(3)`` accepts: ``2130706433``, ``0x7f000001``, ``127.1``,
  ``0177.0.0.1``; IPv6, IPv4-mapped and the other embeddings of IPv4) or a name that is
  local by definition (``localhost``, ``*.local``, ``*.internal``, …);
* at every delivery, the sender (:mod:`moderation.workers.webhook_sender`) resolves the
  name, checks every address it resolved to with :meth:`AllowList.allows_address`, and
  connects only to those it checked.

The operator's :class:`AllowList` (``MODERATION_WEBHOOK_ALLOW_HOSTS``) names networks and
host names allowed despite being non-public, for receivers inside the network.

Messages here never repeat the URL or the host: they are returned to callers and logged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_network
from urllib.parse import urlsplit, urlunsplit

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network

NON_PUBLIC = "the host is a non-public address"
LOCAL_NAME = "the host is a local name"
NOT_AN_ADDRESS = "the host is neither a valid name nor a valid address"
NOT_HTTP = "the URL must be http or https"
NOT_A_URL = "the URL is not valid"

#: Names that are local by definition (RFC 6761, RFC 6762, RFC 8375, ICANN's .internal).
LOCAL_NAMES = frozenset(
    {"localhost", "localhost.localdomain", "localdomain", "ip6-localhost", "ip6-loopback"}
)
LOCAL_SUFFIXES = (".localhost", ".localdomain", ".local", ".internal", ".home.arpa")

_NAT64 = IPv6Network("64:ff9b::/96")  # the well-known prefix: the last 32 bits are IPv4
_NUMBER = re.compile(r"[0-9]+|0[xX][0-9a-fA-F]*")
_NAME = re.compile(r"(\*\.)?[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*")


def parse_ipv4(host: str) -> IPv4Address | None:
    """``host`` read the way ``inet_aton(3)`` reads it, or None when it reads no address.

    One to four parts separated by dots, each decimal, ``0x`` hexadecimal or ``0``
    octal; the last part fills the bytes the others left (``127.1`` is 127.0.0.1,
    ``2130706433`` is 127.0.0.1 too).
    """
    parts = host.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    values = []
    for part in parts:
        value = _inet_number(part)
        if value is None:
            return None
        values.append(value)
    *head, last = values
    if any(value > 0xFF for value in head) or last >= 1 << (8 * (4 - len(head))):
        return None
    number = last
    for index, value in enumerate(head):
        number |= value << (24 - 8 * index)
    return IPv4Address(number)


def _inet_number(part: str) -> int | None:
    if part[:2] in ("0x", "0X"):
        digits, base, allowed = part[2:], 16, "0123456789abcdefABCDEF"
        if not digits:
            return 0  # glibc reads a bare "0x" as zero
    elif len(part) > 1 and part[0] == "0":
        digits, base, allowed = part[1:], 8, "01234567"
    else:
        digits, base, allowed = part, 10, "0123456789"
    if not digits or any(c not in allowed for c in digits) or len(digits) > 40:
        return None
    return int(digits, base)


def literal_address(host: str) -> IPAddress | None:
    """The address ``host`` spells (IPv6 without brackets, or IPv4 in any form
    ``inet_aton`` reads), None when it is a name; ValueError when it is neither."""
    if ":" in host:
        try:
            return IPv6Address(host)
        except ValueError:
            raise ValueError(NOT_AN_ADDRESS) from None
    address = parse_ipv4(host)
    if address is None and _NUMBER.fullmatch(host.rsplit(".", 1)[-1]):
        # A last label that is a number makes a URL host an IPv4 address (WHATWG), and
        # no top-level domain is a number: an unreadable one is no destination.
        raise ValueError(NOT_AN_ADDRESS)
    return address


def embedded_ipv4(address: IPv6Address) -> tuple[IPv4Address, ...]:
    """The IPv4 addresses an IPv6 address carries: IPv4-mapped, 6to4, Teredo, NAT64."""
    found: list[IPv4Address] = []
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)
    if address in _NAT64:
        found.append(IPv4Address(int(address) & 0xFFFFFFFF))
    return tuple(found)


def is_public(address: IPAddress) -> bool:
    """Whether ``address`` is a globally reachable unicast address, and so are the IPv4
    addresses it embeds (``::ffff:127.0.0.1`` is loopback)."""
    if isinstance(address, IPv6Address):
        if address.ipv4_mapped is not None:  # an IPv4 address, as dual-stack sockets write it
            return is_public(address.ipv4_mapped)
        embedded = embedded_ipv4(address)
        if embedded:
            if not all(is_public(inner) for inner in embedded):
                return False
            if address in _NAT64:  # reserved as IPv6, yet it reaches the IPv4 it embeds
                return True
        if address.is_site_local:
            return False
    return bool(
        address.is_global
        and not (
            address.is_multicast
            or address.is_reserved
            or address.is_unspecified
            or address.is_link_local
            or address.is_loopback
            or address.is_private
        )
    )


def _normal_name(host: str) -> str:
    host = host.strip().lower()
    return host[:-1] if host.endswith(".") else host


@dataclass(frozen=True, slots=True)
class AllowList:
    """Networks and host names that may receive webhooks although they are not public.

    Parsed from a comma-separated list: CIDR networks or single addresses
    (``10.20.0.0/16``, ``127.0.0.1``, ``fd00::/8``), host names (``hooks.corp.example``)
    and ``*.``-prefixed suffixes (``*.corp.example``: its subdomains, not itself). A name
    on the list is trusted whatever it resolves to; a network, only for its addresses.
    """

    networks: tuple[IPNetwork, ...] = ()
    names: frozenset[str] = frozenset()
    suffixes: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> AllowList:
        """The list in ``text``; ValueError naming the entry that is neither."""
        networks: list[IPNetwork] = []
        names: set[str] = set()
        suffixes: list[str] = []
        for raw in text.split(","):
            entry = raw.strip()
            if not entry:
                continue
            try:
                networks.append(ip_network(entry.strip("[]"), strict=False))
                continue
            except ValueError:
                pass
            name = _normal_name(entry)
            if not _NAME.fullmatch(name) or _NUMBER.fullmatch(name.rsplit(".", 1)[-1]):
                raise ValueError(f"{entry!r} is neither a network nor a host name")
            if name.startswith("*."):
                suffixes.append(name[1:])
            else:
                names.add(name)
        return cls(tuple(networks), frozenset(names), tuple(suffixes))

    def __bool__(self) -> bool:
        return bool(self.networks or self.names or self.suffixes)

    def allows_name(self, host: str) -> bool:
        """Whether the operator trusts the name ``host`` (whatever it resolves to)."""
        name = _normal_name(host)
        return name in self.names or any(name.endswith(suffix) for suffix in self.suffixes)

    def allows_address(self, address: IPAddress) -> bool:
        """Whether a webhook may connect to ``address``: public, or in an allowed network."""
        if is_public(address):
            return True
        candidates: list[IPAddress] = [address]
        if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
            candidates.append(address.ipv4_mapped)
        return any(
            candidate in network
            for candidate in candidates
            for network in self.networks
            if network.version == candidate.version
        )


def host_refusal(host: str, allow: AllowList) -> str | None:
    """Why ``host`` (a URL's host, without brackets) may not receive webhooks, or None.

    Names other than the local ones pass: what they resolve to is checked at delivery.
    """
    name = _normal_name(host)
    if not name:
        return NOT_AN_ADDRESS
    if allow.allows_name(name):
        return None
    try:
        address = literal_address(name)
    except ValueError as exc:
        return str(exc)
    if address is not None:
        return None if allow.allows_address(address) else NON_PUBLIC
    if name in LOCAL_NAMES or name.endswith(LOCAL_SUFFIXES):
        return LOCAL_NAME
    return None


def url_refusal(url: str, allow: AllowList) -> str | None:
    """Why ``url`` may not receive webhooks, or None; the reason never quotes the URL."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        _ = parts.port  # a port that is not a number, or out of range
    except ValueError:
        return NOT_A_URL
    if parts.scheme.lower() not in ("http", "https"):
        return NOT_HTTP
    if not host:
        return NOT_A_URL
    return host_refusal(host, allow)


def mask_credentials(url: str) -> str:
    """``url`` with its user information (``user:password@``) replaced by ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "***"
    _, at, hostport = parts.netloc.rpartition("@")
    if not at:
        return url
    return urlunsplit(parts._replace(netloc="***@" + hostport))
