"""Attribute stamps (attributes/store.py): what makes a stored partition stale, and the
one line that names the setting that differs."""

from __future__ import annotations

import numpy as np

from tailguard.attributes import store, taggers


def test_a_stamp_changes_with_the_version_and_every_setting_and_only_with_them():
    base = store.Maker("tail", 1, {"tail.max_n": 3, "tail band": "abc"})
    assert base.stamp == store.Maker("tail", 1, {"tail band": "abc", "tail.max_n": 3}).stamp
    others = [store.Maker("tail", 2, {"tail.max_n": 3, "tail band": "abc"}),
              store.Maker("tail", 1, {"tail.max_n": 2, "tail band": "abc"}),
              store.Maker("tail", 1, {"tail.max_n": 3, "tail band": "abd"}),
              store.Maker("tail", 1, {"tail.max_n": 3})]
    assert len({base.stamp, *[m.stamp for m in others]}) == 1 + len(others)
    assert base.stamp.startswith("tail-v1-") and base.table == "attributes/tail"


def test_differing_key_names_the_first_setting_that_differs_with_both_values():
    now = store.Maker("tail", 1, {"tail.max_n": 3, "tail band": "new"})
    stored = {"version": 1, "settings": {"tail.max_n": 3, "tail band": "old"}}
    assert store.differing_key(stored, now) == "tail band='old' (this run: 'new')"
    assert store.differing_key({**stored, "version": 0}, now) == \
        "tagger version 0 (this run: 1)"
    assert store.differing_key(None, now) == "its settings are not recorded"


def test_as_inputs_accepts_dates_with_or_without_input_ids():
    import datetime as dt

    assert store.as_inputs([dt.date(2024, 1, 1), "2024-02-01"]) == {
        "2024-01-01": None, "2024-02-01": None}
    assert store.as_inputs({"2024-01-01": "x"}) == {"2024-01-01": "x"}


def test_the_tail_stamp_follows_the_band_content_not_its_object():
    band = np.array([5, 9, 12], np.uint64)
    same = taggers.tail_maker(band.copy(), 3)
    assert taggers.tail_maker(band, 3).stamp == same.stamp
    assert taggers.tail_maker(band[:2], 3).stamp != same.stamp
    assert taggers.tail_maker(band, 2).stamp != same.stamp
