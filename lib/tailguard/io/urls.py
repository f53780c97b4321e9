"""URL normalisation and registrable domains, batch-at-a-time in Arrow (no Spark import).

Normalisation follows the safe, semantics-preserving subset of RFC 3986 section 6.2.2-6.2.3
(the same subset crawlers such as Common Crawl apply before keying pages): lower-case scheme
and host, drop a trailing dot of the host, drop the fragment and a port equal to the scheme's
default, an empty path becomes "/", path and query are kept byte for byte. Anything that
is not an absolute URL with an allowed scheme and a host is reported invalid, never guessed.
The userinfo (`user:password@`) is dropped: RFC 3986 section 7.5 advises against
storing it, a crawl is no place for credentials, and it does not name a different page.

The registrable domain ("eTLD+1") comes from the Public Suffix List snapshot bundled with
tldextract, with no network access, so the same host maps to the same domain on every
executor and every run. Lookups are made once per distinct host in a batch.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

_URL = r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*)://(?P<authority>[^/?#]*)(?P<rest>[^#]*)"
_AUTHORITY = (r"^(?:(?P<userinfo>[^@/]*)@)?(?P<host>\[[0-9A-Fa-f:.]+\]|[^:@\[\]]*)"
              r"(?::(?P<port>[0-9]*))?$")
# A host is one run of printable, non-space characters without URL delimiters.
_HOST_OK = r"^[^\s\x00-\x1f\x7f/?#@\\<>\"'`{}|^%]+$"
DEFAULT_PORTS = {"http": 80, "https": 443, "ftp": 21, "ws": 80, "wss": 443}


@dataclass(frozen=True)
class NormalizedUrls:
    """Per-row results; `url` and `host` are null where `valid` is false."""

    url: pa.Array
    host: pa.Array
    valid: pa.Array


def _field(struct: pa.Array, name: str) -> pa.Array:
    """A struct child with the parent's nulls applied (extract_regex leaves them as "")."""
    child = pc.struct_field(struct, name)
    return pc.if_else(pc.is_valid(struct), child, pa.scalar(None, pa.string()))


def _port_parts(scheme: pa.Array, port_text: pa.Array) -> tuple[pa.Array, pa.Array]:
    """(":<port>" or "" for the rebuilt URL, port_ok); default and empty ports are dropped."""
    has_port = pc.greater(pc.utf8_length(pc.fill_null(port_text, "")), 0)
    digits = pc.if_else(has_port, pc.utf8_slice_codeunits(port_text, 0, 6), "0")
    number = pc.cast(digits, pa.int64())
    keys = pa.array(list(DEFAULT_PORTS), pa.string())
    default = pc.take(pa.array(list(DEFAULT_PORTS.values()), pa.int64()),
                      pc.index_in(scheme, value_set=keys))
    is_default = pc.fill_null(pc.equal(number, default), False)
    keep = pc.and_(has_port, pc.invert(is_default))
    text = pc.binary_join_element_wise(":", pc.cast(number, pa.string()), "")
    port_ok = pc.less_equal(number, 65535)
    return pc.if_else(keep, text, ""), port_ok


def normalize_urls(urls: pa.Array | pa.ChunkedArray, schemes: Iterable[str]) -> NormalizedUrls:
    """Normalise a batch of URLs (see module docstring); invalid or null input -> null."""
    if isinstance(urls, pa.ChunkedArray):
        urls = urls.combine_chunks()
    text = pc.utf8_trim_whitespace(urls.cast(pa.string()))
    parts = pc.extract_regex(pc.fill_null(text, ""), _URL)
    parsed = pc.and_(pc.is_valid(text), pc.is_valid(parts))
    scheme = pc.utf8_lower(_field(parts, "scheme"))
    authority = pc.extract_regex(pc.fill_null(_field(parts, "authority"), ""), _AUTHORITY)
    host = pc.utf8_lower(_field(authority, "host"))
    host = pc.replace_substring_regex(host, r"\.$", "")
    port_text, port_ok = _port_parts(scheme, _field(authority, "port"))

    allowed = pa.array(sorted({s.lower() for s in schemes}), pa.string())
    valid = pc.and_kleene(parsed, pc.is_in(scheme, value_set=allowed))
    valid = pc.and_kleene(valid, pc.is_valid(authority))
    valid = pc.and_kleene(valid, pc.match_substring_regex(host, _HOST_OK))
    valid = pc.fill_null(pc.and_kleene(valid, port_ok), False)

    rest = _field(parts, "rest")
    needs_slash = pc.invert(pc.fill_null(pc.starts_with(rest, "/"), False))
    rest = pc.if_else(needs_slash, pc.binary_join_element_wise("/", rest, ""), rest)
    rebuilt = pc.binary_join_element_wise(scheme, "://", host, port_text, rest, "")
    null = pa.scalar(None, pa.string())
    return NormalizedUrls(url=pc.if_else(valid, rebuilt, null),
                          host=pc.if_else(valid, host, null), valid=valid)


@functools.lru_cache(maxsize=1)
def _extractor():
    """One offline extractor per process: bundled PSL snapshot, no fetch, no disk cache."""
    import tldextract

    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None,
                                 include_psl_private_domains=False)


@functools.lru_cache(maxsize=65536)
def registrable_domain(host: str) -> str:
    """eTLD+1 of a lower-case host by the ICANN section of the PSL.

    Hosts with no registrable part (IP literals, `localhost`, a bare public suffix) are
    their own domain, so every document still gets a non-null grouping key.
    """
    result = _extractor()(host)
    return result.top_domain_under_public_suffix or host


def registrable_domains(hosts: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Vector form of `registrable_domain`: one PSL lookup per distinct host of the batch."""
    if isinstance(hosts, pa.ChunkedArray):
        hosts = hosts.combine_chunks()
    encoded = pc.dictionary_encode(hosts.cast(pa.string()))
    uniques = encoded.dictionary.to_pylist()
    domains = pa.array([registrable_domain(h) for h in uniques], pa.string())
    return pc.take(domains, encoded.indices)
