"""Which webhook destinations are public, in every spelling of an address."""

from __future__ import annotations

from ipaddress import IPv4Address, ip_address

import pytest

from moderation.domain.destinations import (
    LOCAL_NAME,
    NON_PUBLIC,
    NOT_HTTP,
    AllowList,
    is_public,
    mask_credentials,
    parse_ipv4,
    url_refusal,
)


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"),
        ("0x7f.0.0.0x1", "127.0.0.1"),
        ("0", "0.0.0.0"),
        ("10.0x10.0300", "10.16.0.192"),
        ("foo.example", None),
        ("1.2.3.4.5", None),
        ("256.0.0.1", None),
        ("08.0.0.1", None),
        ("1.2.3.4294967296", None),
        ("1..2", None),
    ],
)
def test_ipv4_is_read_the_way_inet_aton_reads_it(host: str, address: str | None) -> None:
    assert parse_ipv4(host) == (IPv4Address(address) if address else None)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.31.0.1",
        "192.168.0.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "::",
        "::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "2002:7f00:1::",
        "2001:0:4136:e378:8000:63bf:80ff:fffe",
        "64:ff9b::a00:1",
        "fe80::1",
        "fec0::1",
        "fd12:3456::1",
        "ff02::1",
        "2001:db8::1",
    ],
)
def test_non_public_addresses(address: str) -> None:
    assert not is_public(ip_address(address))


@pytest.mark.parametrize(
    "address", ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]
)
def test_public_addresses(address: str) -> None:
    assert is_public(ip_address(address))


def test_urls_at_registration() -> None:
    nobody = AllowList()
    assert url_refusal("https://hooks.example.org/moderation", nobody) is None
    assert url_refusal("http://93.184.216.34:8080/", nobody) is None
    assert url_refusal("http://0x7f000001/", nobody) == NON_PUBLIC
    assert url_refusal("http://[::ffff:7f00:1]/", nobody) == NON_PUBLIC
    assert url_refusal("http://localhost./", nobody) == LOCAL_NAME
    for scheme in ("ftp://example.org/", "file:///etc/passwd", "gopher://example.org/"):
        assert url_refusal(scheme, nobody) == NOT_HTTP
    # What the operator allows, and nothing else.
    allow = AllowList.parse(" 10.20.0.0/16, ::1 ,hooks.internal,*.corp.example, localhost")
    assert url_refusal("http://10.20.3.4/", allow) is None
    assert url_refusal("http://10.21.3.4/", allow) == NON_PUBLIC
    assert url_refusal("http://[::1]:81/", allow) is None
    assert url_refusal("http://[::ffff:10.20.0.1]/", allow) is None
    assert url_refusal("http://hooks.internal/", allow) is None
    assert url_refusal("http://other.internal/", allow) == LOCAL_NAME
    assert url_refusal("http://a.corp.example/", allow) is None
    assert url_refusal("http://localhost/", allow) is None


@pytest.mark.parametrize("bad", ["10.0.0.0/33", "exa mple", "bad..name", "1.2.3.999", "-x"])
def test_a_malformed_allow_list_is_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        AllowList.parse(f"127.0.0.1,{bad}")


def test_the_setting_names_itself_when_malformed() -> None:
    from moderation.settings import Settings, SettingsError

    with pytest.raises(SettingsError, match="MODERATION_WEBHOOK_ALLOW_HOSTS"):
        Settings.from_env({"MODERATION_WEBHOOK_ALLOW_HOSTS": "10.0.0.0/33"})
    settings = Settings.from_env({"MODERATION_WEBHOOK_ALLOW_HOSTS": "10.0.0.0/8,hooks.internal"})
    assert settings.webhook_allow_list().allows_name("HOOKS.internal.")


def test_credentials_are_masked() -> None:
    assert mask_credentials("https://u:p@host.example:8443/h?q=1") == (
        "https://***@host.example:8443/h?q=1"
    )
    assert mask_credentials("https://token@host.example/") == "https://***@host.example/"
    assert mask_credentials("https://host.example/a@b") == "https://host.example/a@b"
