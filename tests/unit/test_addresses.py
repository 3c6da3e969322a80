"""Where measured runs may send requests: the base URL's checks, before any name is resolved."""

import pytest

from src.application.domain.errors import InvalidParameter
from src.application.services.addresses import url_host


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
