"""Detector normalisation: every dataset artefact from shared/data/detector/README.md is
undone, on a batch and on one text alike."""

from __future__ import annotations

import pyarrow as pa
import pytest

from tailguard.detector.features import normalize, normalize_arrow


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("I do n't know , it' s fine .", "i don't know , it's fine ."),
        ("We were n't there ( really ) !", "we weren't there really !"),
        ("The food was great.nnThe staff were kind.",
         "the food was great . the staff were kind ."),
        ("It happened 3 years ago.An event followed.",
         "it happened 0 years ago . an event followed ."),
        ("  leading spaces\n\nand\tnewlines  ", "leading spaces and newlines"),
        ("Sure! Here is a 9 sentence abstract:\n\nThe model works.", "the model works ."),
        ("Here's the review: Great place!", "great place !"),
        ("Title: My Day\n\nI went out.", "i went out ."),
        ("Certainly, I'd be happy to help. The answer is no.", "the answer is no ."),
        ("Sinn FÃ©in said â€œnoâ€\x9d", "sinn féin said no"),
        ("See _URL_3_ or https://example.com/x for more", "see or for more"),
        ("It’s “quoted” and ‘single’", "it's quoted and single"),
        ("Prices rose 3.5% to 1,200 units", "prices rose 0 to 0 units"),
    ],
)
def test_normalize_undoes_artefacts(raw, expected):
    assert normalize(raw) == expected


def test_human_openings_are_not_mistaken_for_preambles():
    assert normalize("Okay so I went there.") == "okay so i went there ."
    assert normalize("Here in Ohio we eat corn.") == "here in ohio we eat corn ."


def test_same_text_different_formatting_normalises_identically():
    human_format = " I do n't think so .nnIt was late.Then we left ."
    machine_format = "I don't think so.\n\nIt was late. Then we left."
    assert normalize(human_format) == normalize(machine_format)


def test_batch_matches_single_and_handles_null_and_empty():
    texts = ["A b.", None, "", "   ", "Über Straße!"]
    batch = normalize_arrow(pa.array(texts, type=pa.string())).to_pylist()
    assert batch == [normalize(t) for t in texts]
    assert batch[1:4] == ["", "", ""]
    assert batch[4] == "über straße !"


def test_normalize_is_idempotent_and_single_line():
    text = "Sure, here is it:\nLine one.nnLine two ,  done .\r\nEnd"
    once = normalize(text)
    assert normalize(once) == once
    assert "\n" not in once and "  " not in once
