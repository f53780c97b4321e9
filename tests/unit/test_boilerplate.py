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
    rows = distinct_line_pages(batch, np.array([100, 200]), np.array([5, 5]),
                               np.array([DOMAIN_A, DOMAIN_B]), 12)
    day = rows.day
    assert not rows.tagged.any() and not rows.site.any()  # no small-site bound
    rows = set(zip(rows.key.tolist(), rows.page.tolist(), strict=True))
    share = words("Share this: Twitter")
    scoped = {(line_key(share, DOMAIN_A), 100), (line_key(share, DOMAIN_B), 200),
              (line_key(["long"] * 13, DOMAIN_A), 100)}
    crawl_wide = {(line_key(share, 0), DOMAIN_A), (line_key(share, 0), DOMAIN_B)}
    as_signed = {(int(np.uint64(k).view(np.int64)), p) for k, p in scoped | crawl_wide}
    assert rows == as_signed  # the 13-word line has no crawl-wide row
    assert (day == 5).all()
    plain = distinct_line_pages(batch, np.array([100, 200]), np.array([5, 5]))
    assert len(plain.key) == 3  # without the bound: the domain rows only


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


def test_short_lines_carry_their_site_for_the_small_site_rule():
    """With the small-site bound, the rows of short lines name their domain; long lines
    and the crawl-wide rows do not, and the rows are the same (day, key, page) rows."""
    long_line = " ".join(["long"] * 13)
    texts = ["Welcome to small.com\n" + long_line, "Welcome to small.com\nchanged"]
    batch = _batch(texts, [DOMAIN_A] * 2)
    args = (batch, np.array([100, 300]), np.array([5, 5]), np.array([DOMAIN_A] * 2), 12)
    rows = distinct_line_pages(*args, 12)
    plain = distinct_line_pages(*args)
    for name in ("day", "key", "page"):
        assert getattr(rows, name).tolist() == getattr(plain, name).tolist()
    assert not plain.tagged.any() and not plain.site.any()
    welcome = int(np.uint64(line_key(words("Welcome to small.com"), DOMAIN_A)).view(np.int64))
    long_key = int(np.uint64(line_key(["long"] * 13, DOMAIN_A)).view(np.int64))
    changed = int(np.uint64(line_key(["changed"], DOMAIN_A)).view(np.int64))
    got = set(zip(rows.key.tolist(), rows.page.tolist(), rows.site.tolist(),
                  rows.tagged.tolist(), strict=True))
    crawl_wide = {r for r in got if r[1] == DOMAIN_A}  # page = the domain hash
    assert len(crawl_wide) == 2 and {r[3] for r in crawl_wide} == {False}
    assert got - crawl_wide == {(welcome, 100, DOMAIN_A, True), (welcome, 300, DOMAIN_A, True),
                                (changed, 300, DOMAIN_A, True), (long_key, 100, 0, False)}
