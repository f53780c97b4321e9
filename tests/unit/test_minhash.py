"""The compiled MinHash kernel equals datasketch.MinHash built with the same permutations
and our `shingle_hash`, with and without boilerplate lines left out."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest
from datasketch import MinHash

from shared_data import SHARED_DATA
from tailguard.dedup.minhash import MinHasher, from_binary, shingle_hash, shingles, to_binary
from tailguard.text.lines import LineWords
from tailguard.text.tokenize import words

DETECTOR = SHARED_DATA


def _random_texts(seed: int, count: int) -> list[str | None]:
    rng = np.random.default_rng(seed)
    vocab = [f"w{i}" for i in range(400)] + ["Don't", "l'eau", "Ünïcode", "日本", "\n", "\n"]
    texts: list[str | None] = [
        " ".join(rng.choice(vocab, size=int(rng.integers(0, 60)))) for _ in range(count)]
    return texts + [None, "", "   ", "!!!", "one", "two words", "a b c d", "a b c d e"]


def _reference(tokens: list[str], hasher: MinHasher) -> np.ndarray | None:
    items = shingles(tokens, hasher.shingle_size)
    if not items:
        return None
    ref = MinHash(num_perm=hasher.num_perm, seed=hasher.seed, hashfunc=shingle_hash,
                  scheme=hasher.scheme)
    ref.update_batch(items)
    return ref.hashvalues.astype(np.uint32)


def _assert_equal_to_reference(texts, hasher, tokens_of):
    has_sig, sig = hasher.signatures_of_texts(pa.array(texts, type=pa.string()))
    references = [_reference(tokens_of(t), hasher) for t in texts]
    assert has_sig.tolist() == [r is not None for r in references]
    assert np.array_equal(sig, np.stack([r for r in references if r is not None]))


@pytest.mark.parametrize("scheme", ["affine32", "legacy"])
def test_kernel_equals_datasketch(scheme):
    hasher = MinHasher(num_perm=64, seed=11, shingle_size=5, scheme=scheme)
    _assert_equal_to_reference(_random_texts(seed=3, count=150), hasher, words)


@pytest.mark.shared_data
def test_kernel_equals_datasketch_on_real_text():
    """Real vocabulary (accents, apostrophes, mojibake, line breaks): bit-equal."""
    with open(DETECTOR / "valid.jsonl", encoding="utf-8") as rows:
        texts = [json.loads(line)["text"] for _, line in zip(range(120), rows, strict=False)]
    _assert_equal_to_reference(texts, MinHasher(num_perm=128, seed=1), words)


def test_skipped_lines_leave_the_shingles_of_the_remaining_words():
    texts = ["Share this: Twitter Facebook\nthe real text of the page is here\nPosted in news",
             "only one\nShare this: Twitter Facebook", "Share this: Twitter Facebook",
             "", "tiny\nShare this: Twitter Facebook\nend of it all now"]
    boiler = {("share", "this", "twitter", "facebook"), ("posted", "in", "news")}
    hasher = MinHasher(num_perm=32, seed=4, shingle_size=3)
    batch = LineWords(pa.array(texts))
    skip = np.array([tuple(words(line)) in boiler
                     for text in texts for line in text.split("\n") if words(line)])
    has_sig, sig = hasher.signatures_of_words(batch, skip)
    expected = []
    for text in texts:
        kept = [w for line in text.split("\n") if tuple(words(line)) not in boiler
                for w in words(line)]
        ref = _reference(kept or words(text), hasher)  # all boilerplate: the whole page
        if ref is not None:
            expected.append(ref)
    assert has_sig.tolist() == [True, True, True, False, True]
    assert np.array_equal(sig, np.stack(expected))
    # the page between boilerplate lines is fingerprinted as the page alone
    _, alone = hasher.signatures_of_texts(pa.array(["the real text of the page is here"]))
    assert np.array_equal(sig[0], alone[0])


def test_short_documents_use_one_shingle_of_all_words():
    assert shingles(["a", "b"], 5) == [("a", "b")]
    assert shingles([], 5) == []
    assert len(shingles(list("abcdefg"), 5)) == 3
    hasher = MinHasher(num_perm=16)
    _, sig = hasher.signatures_of_texts(pa.array(["Hello, world", "hello world!", "world hello"]))
    assert np.array_equal(sig[0], sig[1]) and not np.array_equal(sig[0], sig[2])


def test_sliced_batch_and_binary_round_trip():
    hasher = MinHasher(num_perm=32, seed=2, shingle_size=3)
    texts = pa.array(_random_texts(seed=5, count=40))
    _, whole = hasher.signatures_of_texts(texts)
    has_tail, tail = hasher.signatures_of_texts(texts.slice(20))
    assert np.array_equal(tail, whole[len(whole) - int(has_tail.sum()):])
    assert np.array_equal(from_binary(to_binary(whole), 32), whole)
    assert to_binary(whole)[0].as_py() == whole[0].astype("<u4").tobytes()


def test_similar_texts_have_similar_signatures():
    rng = np.random.default_rng(0)
    base = [f"t{i}" for i in rng.integers(0, 5000, 400)]
    edited = list(base)
    edited[200] = "changed"
    hasher = MinHasher(num_perm=128)
    _, sig = hasher.signatures_of_texts(pa.array([" ".join(base), " ".join(edited),
                                                  " ".join(reversed(base))]))
    assert (sig[0] == sig[1]).mean() > 0.9
    assert (sig[0] == sig[2]).mean() < 0.1


def test_unknown_scheme_is_rejected():
    with pytest.raises(ValueError, match="scheme"):
        MinHasher(scheme="affine16")
