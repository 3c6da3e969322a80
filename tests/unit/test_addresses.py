"""Where measured runs may send requests: the base URL's checks, before any name is resolved."""

import pytest

from src.application.domain.errors import InvalidParameter
from src.application.services.addresses import check_addresses, networks, url_host


@pytest.mark.parametrize(
    "host",
    ["metadata", "metadata.google.internal", "instance-data", "instance-data.ec2.internal",
     "Metadata.Google.Internal.", "INSTANCE-DATA"],
)  # fmt: skip
def test_cloud_metadata_services_are_refused_by_name_whatever_their_case_or_final_dot(host):
    with pytest.raises(InvalidParameter) as refused:
        url_host(f"http://{host}/v1")
    assert str(refused.value) == f"base_url names a cloud metadata service ({host.lower()})"
    assert refused.value.parameter == "base_url"


def test_a_base_url_has_at_most_500_characters():
    longest = "http://llm.example.com/" + "v" * (500 - len("http://llm.example.com/"))
    assert url_host(longest) == "llm.example.com"
    with pytest.raises(InvalidParameter) as refused:
        url_host(longest + "v")
    assert (str(refused.value), refused.value.parameter) == ("base_url must be at most 500 characters", "base_url")


@pytest.mark.parametrize(
    "base_url, message, choices",
    [
        ("http://llm:port/v1", "base_url is not a URL: Port could not be cast to integer value as 'port'", None),
        ("ftp://llm/v1", "base_url must be an http(s) URL with a host, got 'ftp://llm/v1'", ["http", "https"]),
        ("http:///v1", "base_url must be an http(s) URL with a host, got 'http:///v1'", ["http", "https"]),
    ],
)
def test_a_base_url_that_is_no_http_url_with_a_host_is_refused_saying_why(base_url, message, choices):
    with pytest.raises(InvalidParameter) as refused:
        url_host(base_url)
    assert (str(refused.value), refused.value.parameter, refused.value.choices) == (message, "base_url", choices)


@pytest.mark.parametrize("base_url", ["http://user@llm/v1", "http://user:pass@llm/v1", "http://:secret@llm/v1"])
def test_a_base_url_carries_no_credentials(base_url):
    with pytest.raises(InvalidParameter) as refused:
        url_host(base_url)
    assert str(refused.value) == (
        "base_url must not carry credentials (user:password@): name the variable that holds the key in api_key_env"
    )
    assert refused.value.parameter == "base_url"


@pytest.mark.parametrize("base_url", ["http://llm/v1?model=x", "http://llm/v1#top"])
def test_a_base_url_has_no_query_or_fragment(base_url):
    with pytest.raises(InvalidParameter) as refused:
        url_host(base_url)
    assert str(refused.value) == ("base_url must have no query or fragment: requests go to <base_url>/chat/completions")
    assert refused.value.parameter == "base_url"


def test_link_local_addresses_are_refused_even_with_a_zone_or_inside_an_allowed_network():
    for address in ("169.254.169.254", "fe80::1%eth0", "::ffff:169.254.169.254"):
        with pytest.raises(InvalidParameter, match=r"at the link-local address .* where cloud metadata services"):
            check_addresses("llm", [address], networks(["0.0.0.0/0", "::/0"]))


def test_private_addresses_need_an_allowed_network_and_public_ones_do_not():
    check_addresses("llm", ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"], ())
    with pytest.raises(InvalidParameter) as refused:
        check_addresses("llm", ["93.184.216.34", "::ffff:10.1.2.3"], ())
    assert str(refused.value) == (
        "base_url's host llm is at the private address 10.1.2.3; allow its network in ENDPOINT_ALLOWED_NETWORKS"
        " (allowed now: none)"
    )
    check_addresses("llm", ["10.1.2.3", "fd00::5%eth0"], networks([" 10.0.0.0/8", "fd00::/8", ""]))
    with pytest.raises(InvalidParameter, match=r"192\.168\.1\.2; .*\(allowed now: 10\.0\.0\.0/8\)$"):
        check_addresses("llm", ["192.168.1.2"], networks(["10.0.0.0/8"]))


@pytest.mark.parametrize("address", ["64:ff9b::a9fe:a9fe", "2002:a9fe:a9fe::1"])
def test_an_ipv6_address_carrying_a_link_local_ipv4_one_is_refused_as_it(address):
    """NAT64 (64:ff9b::/96) and 6to4 (2002::/16) deliver to the IPv4 address inside: 169.254.169.254."""
    with pytest.raises(InvalidParameter, match=r"at the link-local address 169\.254\.169\.254, where cloud"):
        check_addresses("llm", [address], networks(["0.0.0.0/0", "::/0"]))


@pytest.mark.parametrize("address", ["64:ff9b::a01:203", "2002:a01:203::1"])
def test_an_ipv6_address_carrying_a_private_ipv4_one_is_checked_as_it(address):
    with pytest.raises(InvalidParameter, match=r"private address 10\.1\.2\.3; .*\(allowed now: none\)$"):
        check_addresses("llm", [address], ())
    check_addresses("llm", [address], networks(["10.0.0.0/8"]))
    check_addresses("llm", ["64:ff9b::5db8:d822", "2002:5db8:d822::1"], ())  # 93.184.216.34: public


@pytest.mark.parametrize("address", ["64:ff9b:1::a01:203", "::a01:203"])
def test_local_nat64_and_ipv4_compatible_addresses_count_as_private(address):
    """A local-use NAT64 prefix (64:ff9b:1::/48) places the IPv4 address as its operator chose, and
    an IPv4-compatible address (::/96, deprecated) may be tunnelled to it: neither is public."""
    with pytest.raises(InvalidParameter, match=rf"private address {address}; "):
        check_addresses("llm", [address], ())
    check_addresses("llm", [address], networks(["64:ff9b:1::/48", "::/96"]))


def test_every_address_of_a_host_is_checked_and_the_allowed_networks_are_named_each():
    allowed = networks(["10.1.2.3/8", "fd00::/8"])  # an address with its network's length names the network
    assert [str(network) for network in allowed] == ["10.0.0.0/8", "fd00::/8"]
    with pytest.raises(InvalidParameter) as refused:
        check_addresses("llm", ["10.1.2.3", "192.168.1.2"], allowed)  # the first allowed, the second not
    assert str(refused.value).endswith("192.168.1.2; allow its network in ENDPOINT_ALLOWED_NETWORKS"
                                       " (allowed now: 10.0.0.0/8, fd00::/8)")  # fmt: skip


def test_a_refused_base_url_is_shown_cut_to_100_characters():
    with pytest.raises(InvalidParameter) as refused:
        url_host("ftp://" + "x" * 200)
    assert str(refused.value) == f"base_url must be an http(s) URL with a host, got {'ftp://' + 'x' * 94!r}"
