"""The stored pu classifier's refresh rule and round trip, and the balanced site buckets
(tailguard.share.pu_state, spread), without Spark."""

import numpy as np
import pytest

from tailguard.config import load_config
from tailguard.errors import InputError
from tailguard.share import pu_state
from tailguard.share.pu_classifier import Classifier, sample_cut
from tailguard.share.spread import balanced_buckets

SETTINGS = pu_state.state_settings(load_config([], []), "ft-1")


def _fitted(n_pre=1000, n_post=400, settings=SETTINGS):
    return {"settings": dict(settings), "n_pre": n_pre, "n_post": n_post,
            "dates": ["2021-01-01"], "tailguard": "0"}


def test_state_settings_name_the_config_and_the_detector():
    assert SETTINGS["detector.version"] == "ft-1"
    assert SETTINGS["share.pu_folds"] == 5 and SETTINGS["eras.cutoff"] == "2022-11-30"
    assert "share.refit" not in SETTINGS and "share.bootstrap" not in SETTINGS


def test_refit_when_missing_or_requested():
    assert "no stored" in pu_state.refit_reason(None, SETTINGS, 10, 10, 0.25, False)
    assert pu_state.refit_reason(_fitted(), SETTINGS, 1000, 400, 0.25, True) == \
        "share.refit is true"


def test_keep_the_state_until_an_era_grows_by_more_than_the_fraction():
    fitted = _fitted()
    assert pu_state.refit_reason(fitted, SETTINGS, 1250, 500, 0.25, False) is None
    assert pu_state.refit_reason(fitted, SETTINGS, 900, 300, 0.25, False) is None
    assert "pre-AI documents grew from 1000 to 1251" in pu_state.refit_reason(
        fitted, SETTINGS, 1251, 400, 0.25, False)
    assert "post-AI documents grew from 400 to 501" in pu_state.refit_reason(
        fitted, SETTINGS, 1000, 501, 0.25, False)


def test_other_settings_are_an_error_naming_the_key_unless_refitting():
    other = pu_state.state_settings(load_config([], ["share.pu_c=3.0"]), "ft-1")
    with pytest.raises(InputError, match=r"share.pu_c=10.0 \(this run: 3.0\).*share.refit=true"):
        pu_state.refit_reason(_fitted(), other, 1000, 400, 0.25, False)
    assert pu_state.refit_reason(_fitted(), other, 1000, 400, 0.25, True) is not None
    detector = pu_state.state_settings(load_config([], []), "ft-2")
    with pytest.raises(InputError, match="detector.version='ft-1'"):
        pu_state.refit_reason(_fitted(), detector, 1000, 400, 0.25, False)


def _model(seed=0, stacked=True):
    rng = np.random.default_rng(seed)
    text = {k: (rng.normal(size=16), float(rng.normal())) for k in range(3)}
    stack = tuple({"model": k, "intercept": 0.1 * k, "w_text": 1.0, "w_detector": 0.5}
                  for k in range(3)) if stacked else ()
    return pu_state.StoredModel(Classifier(text, stack), _fitted())


def test_state_rows_round_trip_with_the_same_fingerprint():
    model = _model()
    rows = [dict(zip(pu_state.PU_MODEL_STATE.names, r, strict=True))
            for r in pu_state.state_rows(model)]
    back = pu_state.from_rows(rows)
    assert back.fingerprint == model.fingerprint and back.fitted_on == model.fitted_on
    for k, (coef, b) in model.classifier.text.items():
        assert np.array_equal(back.classifier.text[k][0], coef) and back.classifier.text[k][1] == b
    assert back.classifier.stack == model.classifier.stack
    assert pu_state.from_rows([]) is None


def test_fingerprint_changes_with_any_coefficient_or_setting():
    model = _model()
    assert _model(seed=1).fingerprint != model.fingerprint
    assert _model(stacked=False).fingerprint != model.fingerprint
    other = pu_state.StoredModel(model.classifier,
                                 _fitted(settings={**SETTINGS, "share.seed": 2}))
    assert other.fingerprint != model.fingerprint
    # what it was fitted on (counts, dates) is a record, not part of what it computes
    same = pu_state.StoredModel(model.classifier, _fitted(n_pre=5))
    assert same.fingerprint == model.fingerprint
    assert model.maker().stamp != _model(seed=1).maker().stamp


def test_sample_cut_keeps_everything_below_the_cap():
    assert sample_cut(20000, 5000) == 1_000_003
    assert sample_cut(20000, 0) == 1_000_003
    assert sample_cut(20000, 40000) == 500_001


def test_balanced_buckets_spread_sizes_and_are_deterministic():
    sizes = {f"s{i}": float(n) for i, n in enumerate([900, 500, 400, 300, 300, 200, 100, 100])}
    got = balanced_buckets(sizes, 3)
    totals = [sum(v for k, v in sizes.items() if got[k] == b) for b in range(3)]
    assert sorted(got.values()) == sorted(got.values()) and set(got.values()) == {0, 1, 2}
    assert max(totals) <= 4 / 3 * sum(sizes.values()) / 3 + 1e-9 or max(totals) == 900
    assert got == balanced_buckets(dict(reversed(list(sizes.items()))), 3)
    assert balanced_buckets({"a": 1.0, "b": 1.0}, 8) == {"a": 0, "b": 1}
    assert balanced_buckets({}, 4) == {}
    assert set(balanced_buckets(sizes, 1).values()) == {0}


def test_feature_rows_rebuild_exactly_the_vectorizer_matrix():
    from tailguard.share import pu_classifier as pc

    texts = ["a b c a", "", "delve into the tapestry", "x " * 50, "ünï cödé  spaced\ttab"]
    idx, val = pc.feature_arrays(texts, 1 << 10)
    rebuilt = pc.feature_matrix(idx, val, 1 << 10)
    direct = pc._vectorizer(1 << 10).transform(texts)
    assert (rebuilt != direct).nnz == 0 and np.array_equal(rebuilt.indices, direct.indices)
    assert np.array_equal(rebuilt.data, direct.data) and rebuilt.shape == direct.shape
    assert pc.feature_matrix([], [], 8).shape == (0, 8)
