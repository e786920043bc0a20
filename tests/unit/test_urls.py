"""Origin allow-lists for Jira base URLs and GitHub API URLs."""

from __future__ import annotations

import pytest

from connect_app.connect.urls import normalise_origin, parse_patterns, url_allowed

JIRA_DEFAULT = "https://*.atlassian.net,https://*.jira.com,https://*.jira-dev.com"


@pytest.fixture
def jira() -> list:
    return parse_patterns(JIRA_DEFAULT)


@pytest.mark.parametrize(
    "url",
    [
        "https://acme.atlassian.net",
        "https://acme.atlassian.net/",
        "https://ACME.Atlassian.NET",
        "https://acme.atlassian.net:443",
        "https://acme.atlassian.net/jira",
        "https://eu.acme.atlassian.net",
        "https://acme.jira.com",
        "https://acme.jira-dev.com",
    ],
)
def test_accepts_jira_cloud_sites(jira: list, url: str) -> None:
    assert url_allowed(url, jira)


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.com/.atlassian.net",
        "https://x.atlassian.net.evil.com",
        "https://a@b.atlassian.net",
        "https://evil.com@b.atlassian.net",
        "https://b.atlassian.net@evil.com",
        "https://x.atlassian.net:8443",
        "http://acme.atlassian.net",
        "https://atlassian.net",
        "https://.atlassian.net",
        "https://acme.atlassian.net?x=1",
        "https://acme.atlassian.net/?",
        "https://acme.atlassian.net#frag",
        "https://evil.com\\.atlassian.net",
        "https://evil.com%2f.atlassian.net",
        "https://acme.atlassian.net\n.evil.com",
        "https://acme .atlassian.net",
        "ftp://acme.atlassian.net",
        "//acme.atlassian.net",
        "acme.atlassian.net",
        "https://acme.atlassian.net:99999",
        "https://acme.atlassian.net:abc",
        "",
        "https://",
    ],
)
def test_refuses_lookalikes_and_odd_urls(jira: list, url: str) -> None:
    assert not url_allowed(url, jira)


def test_https_star_matches_any_https_origin_on_the_default_port() -> None:
    github = parse_patterns("https://*")
    assert url_allowed("https://api.github.com", github)
    assert url_allowed("https://ghe.example.com/api/v3", github)
    assert url_allowed("https://10.0.0.5", github)
    assert not url_allowed("http://api.github.com", github)
    # `*` never crosses a `:`; a non-default port has to be allowed explicitly.
    assert not url_allowed("https://ghe.example.com:8443/api/v3", github)
    assert url_allowed("https://ghe.example.com:8443/api/v3", parse_patterns("https://*:*"))
    assert not url_allowed("https://token@api.github.com", github)


def test_explicit_ports_and_default_port_normalisation() -> None:
    patterns = parse_patterns("http://127.0.0.1:8001, https://jira.example.com:443/")
    assert url_allowed("http://127.0.0.1:8001", patterns)
    assert not url_allowed("http://127.0.0.1:8002", patterns)
    assert not url_allowed("http://127.0.0.1", patterns)
    assert url_allowed("https://jira.example.com", patterns)
    assert url_allowed("https://jira.example.com:443/rest", patterns)


def test_uppercase_patterns_and_blank_entries() -> None:
    patterns = parse_patterns(" HTTPS://*.Atlassian.NET , ,")
    assert len(patterns) == 1
    assert url_allowed("https://acme.atlassian.net", patterns)


@pytest.mark.parametrize(
    "bad",
    ["*.atlassian.net", "https://*.atlassian.net/path", "https://user@*.x", "gopher://*", "https://"],
)
def test_bad_patterns_are_rejected_at_parse_time(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_patterns(bad)


def test_empty_allow_list_allows_nothing() -> None:
    assert not url_allowed("https://acme.atlassian.net", parse_patterns(""))


def test_normalise_origin() -> None:
    assert normalise_origin("HTTPS://Acme.Atlassian.net:443/x/y") == "https://acme.atlassian.net"
    assert normalise_origin("http://localhost:8000/") == "http://localhost:8000"
    assert normalise_origin("http://[::1]:8000") == "http://[::1]:8000"
    with pytest.raises(ValueError):
        normalise_origin("https://a@b.example")
