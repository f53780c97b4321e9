"""Boilerplate line rules of dedup/boilerplate.py, without Spark."""

import numpy as np
import pyarrow as pa

from tailguard.dedup.boilerplate import distinct_line_pages, skipped_lines
from tailguard.text.lines import LineWords, line_key
from tailguard.text.tokenize import words

DOMAIN_A, DOMAIN_B = 11, 22


def _batch(texts, scopes):
    return LineWords(pa.array(texts), np.array(scopes, np.int64))


def test_short_lines_are_also_indexed_by_domain_across_the_crawl():
    texts = ["Share this: Twitter\n" + " ".join(["long"] * 13), "Share this: Twitter"]
    batch = _batch(texts, [DOMAIN_A, DOMAIN_B])
    day, keys, pages = distinct_line_pages(batch, np.array([100, 200]), np.array([5, 5]),
                                           np.array([DOMAIN_A, DOMAIN_B]), 12)
    rows = set(zip(keys.tolist(), pages.tolist(), strict=True))
    share = words("Share this: Twitter")
    scoped = {(line_key(share, DOMAIN_A), 100), (line_key(share, DOMAIN_B), 200),
              (line_key(["long"] * 13, DOMAIN_A), 100)}
    crawl_wide = {(line_key(share, 0), DOMAIN_A), (line_key(share, 0), DOMAIN_B)}
    as_signed = {(int(np.uint64(k).view(np.int64)), p) for k, p in scoped | crawl_wide}
    assert rows == as_signed  # the 13-word line has no crawl-wide row
    assert (day == 5).all()
    plain = distinct_line_pages(batch, np.array([100, 200]), np.array([5, 5]))
    assert len(plain[1]) == 3  # without the bound: the domain rows only


def test_shared_short_lines_are_skipped_unless_they_would_empty_the_page():
    share, own = "Share this: Twitter Facebook", "Welcome to my site"
    texts = [f"{share}\nthe page's own text, long enough to count\n{own}",
             f"{share}\n{own}",           # every line boilerplate of some kind
             "a caption\nline two"]       # only shared short lines: kept whole
    batch = _batch(texts, [DOMAIN_A, DOMAIN_A, DOMAIN_B])
    boiler = np.sort(np.array([line_key(words(share), 0), line_key(words(own), DOMAIN_A),
                               line_key(words("a caption"), 0),
                               line_key(words("line two"), 0)], np.uint64))
    skip = skipped_lines(batch, boiler, 12)
    # page 0: the shared line and the domain's line go; page 1: its domain's line goes,
    # the shared one stays (it alone would empty the page); page 2: nothing goes
    assert skip.tolist() == [True, False, True, False, True, False, False]
    assert skipped_lines(batch, boiler, 0).tolist() == [False, False, True, False, True,
                                                         False, False]
