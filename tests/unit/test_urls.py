"""URL normalisation and PSL domains: pure Arrow, no Spark, no network."""

from __future__ import annotations

import socket

import pyarrow as pa
import pytest

from tailguard.io import urls
from tailguard.io.urls import normalize_urls, registrable_domain, registrable_domains

SCHEMES = ("http", "https")


def _norm(values):
    result = normalize_urls(pa.array(values, pa.string()), SCHEMES)
    return result.url.to_pylist(), result.host.to_pylist(), result.valid.to_pylist()


@pytest.mark.parametrize(
    ("raw", "url", "host"),
    [
        ("HTTP://Example.COM/Path?Q=1#frag", "http://example.com/Path?Q=1", "example.com"),
        ("https://example.com:443/a", "https://example.com/a", "example.com"),
        ("http://example.com:80", "http://example.com/", "example.com"),
        ("http://example.com:8080/x", "http://example.com:8080/x", "example.com"),
        ("https://example.com:080/x", "https://example.com:80/x", "example.com"),
        ("http://example.com:/x", "http://example.com/x", "example.com"),
        ("  https://WWW.BBC.CO.UK./news  ", "https://www.bbc.co.uk/news", "www.bbc.co.uk"),
        ("https://a.com?x=1", "https://a.com/?x=1", "a.com"),
        ("http://user:pw@Host.org/p", "http://host.org/p", "host.org"),
        ("https://alice:PASSWORD@a.com:8443/x?q=1", "https://a.com:8443/x?q=1", "a.com"),
        ("https://token@a.com/", "https://a.com/", "a.com"),
        ("https://@a.com/", "https://a.com/", "a.com"),
        ("http://[::1]:8080/", "http://[::1]:8080/", "[::1]"),
    ],
)
def test_normalises_valid_urls(raw, url, host):
    assert _norm([raw]) == ([url], [host], [True])


@pytest.mark.parametrize(
    "raw",
    [None, "", "   ", "example.com/page", "/relative/path", "ftp://example.com/",
     "mailto:someone@example.com", "http:///no-host", "http://exa mple.com/",
     "https://example.com:99999/", "javascript:alert(1)", "http://a.com:port/"],
)
def test_rejects_invalid_urls(raw):
    assert _norm([raw]) == ([None], [None], [False])


def test_scheme_list_is_configurable_and_case_insensitive():
    result = normalize_urls(pa.array(["FTP://Files.example.org/a"]), ["HTTP", "ftp"])
    assert result.url.to_pylist() == ["ftp://files.example.org/a"]


def test_batch_keeps_row_alignment_with_nulls():
    urls_, hosts, valid = _norm(["https://a.com/1", None, "bad", "https://b.org/2"])
    assert urls_ == ["https://a.com/1", None, None, "https://b.org/2"]
    assert valid == [True, False, False, True]
    assert hosts == ["a.com", None, None, "b.org"]


@pytest.fixture
def no_network(monkeypatch):
    """Any socket connection fails, and the PSL extractor is rebuilt under that rule."""

    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    urls._extractor.cache_clear()
    registrable_domain.cache_clear()
    yield
    urls._extractor.cache_clear()
    registrable_domain.cache_clear()


@pytest.mark.usefixtures("no_network")
@pytest.mark.parametrize(
    ("host", "domain"),
    [
        ("www.bbc.co.uk", "bbc.co.uk"),
        ("blog.example.com.au", "example.com.au"),
        ("a.b.example.com", "example.com"),
        ("example.com", "example.com"),
        ("127.0.0.1", "127.0.0.1"),
        ("localhost", "localhost"),
        ("co.uk", "co.uk"),
    ],
)
def test_registrable_domain_offline(host, domain):
    assert registrable_domain(host) == domain


@pytest.mark.usefixtures("no_network")
def test_registrable_domains_vector_one_lookup_per_host():
    hosts = pa.array(["www.bbc.co.uk", None, "news.bbc.co.uk", "www.bbc.co.uk", "x.com.au"])
    assert registrable_domains(hosts).to_pylist() == [
        "bbc.co.uk", None, "bbc.co.uk", "bbc.co.uk", "x.com.au"]
    info = registrable_domain.cache_info()
    assert info.hits + info.misses == 3  # one call per distinct non-null host


def test_userinfo_never_survives_in_url_or_host():
    """Credentials in a crawled URL (RFC 3986 userinfo) must not reach any table."""
    raw = ["https://alice:PASSWORD@a.com/p", "http://PASSWORD@b.org", "HTTPS://u:PASSWORD@C.NET:80/",
           "https://a:b@c@d.com/", "https://alice:PASSWORD@[::1]/"]
    url, host, valid = _norm(raw)
    assert not any("PASSWORD" in (v or "") or "@" in (v or "") for v in url + host)
    assert url[:3] == ["https://a.com/p", "http://b.org/", "https://c.net:80/"]
    assert url[4] == "https://[::1]/"
