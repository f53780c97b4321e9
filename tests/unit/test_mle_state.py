"""The stored mle word model's refresh rule (tailguard.share.mle_state), without Spark."""

import pytest

from tailguard.config import load_config
from tailguard.errors import InputError
from tailguard.share import mle_state

SETTINGS = mle_state.state_settings(load_config([], []), "ft-1")


def _fitted(n_pre=1000, settings=SETTINGS):
    return {"settings": dict(settings), "n_pre": n_pre, "n_total": n_pre, "prior_docs": 20.0}


def test_settings_name_the_word_model_config_and_the_detector_only():
    assert SETTINGS["detector.version"] == "ft-1"
    assert SETTINGS["share.mle_vocab_size"] == 5000
    assert "share.bootstrap" not in SETTINGS and "share.pu_c" not in SETTINGS


def test_refit_when_missing_requested_or_pre_ai_text_grew_past_the_fraction():
    assert "no stored state/mle_reference" in mle_state.refit_reason(None, SETTINGS, 5, 0.25,
                                                                     False)
    assert mle_state.refit_reason(_fitted(), SETTINGS, 1000, 0.25, True) == "share.refit is true"
    assert mle_state.refit_reason(_fitted(), SETTINGS, 1250, 0.25, False) is None
    assert mle_state.refit_reason(_fitted(), SETTINGS, 800, 0.25, False) is None
    assert "grew from 1000 to 1251" in mle_state.refit_reason(_fitted(), SETTINGS, 1251, 0.25,
                                                              False)


def test_another_setting_is_an_error_naming_the_key_unless_refitting():
    other = mle_state.state_settings(load_config([], ["share.mle_vocab_size=100"]), "ft-1")
    with pytest.raises(InputError, match=r"share.mle_vocab_size=5000 \(this run: 100\)"):
        mle_state.refit_reason(_fitted(), other, 1000, 0.25, False)
    assert mle_state.refit_reason(_fitted(), other, 1000, 0.25, True) is not None
