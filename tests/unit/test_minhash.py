"""The batch MinHash kernel equals datasketch.MinHash built with the same permutations."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from datasketch import MinHash

from tailguard.dedup import minhash as mh
from tailguard.dedup.minhash import MinHasher, from_binary, shingle_hash, shingles, to_binary
from tailguard.text.tokenize import words


def _random_texts(seed: int, count: int) -> list[str | None]:
    rng = np.random.default_rng(seed)
    vocab = [f"w{i}" for i in range(400)] + ["Don't", "l'eau", "Ünïcode", "日本"]
    texts: list[str | None] = [
        " ".join(rng.choice(vocab, size=int(rng.integers(0, 60)))) for _ in range(count)]
    return texts + [None, "", "   ", "!!!", "one", "two words", "a b c d", "a b c d e"]


def _reference(text: str | None, hasher: MinHasher) -> np.ndarray | None:
    items = shingles(words(text), hasher.shingle_size)
    if not items:
        return None
    ref = MinHash(num_perm=hasher.num_perm, seed=hasher.seed, hashfunc=shingle_hash,
                  scheme=hasher.scheme)
    ref.update_batch(items)
    return ref.hashvalues.astype(np.uint32)


@pytest.mark.parametrize("scheme", ["affine32", "legacy"])
@pytest.mark.parametrize("chunk", [16384, 7])
def test_kernel_equals_datasketch(scheme, chunk, monkeypatch):
    monkeypatch.setattr(mh, "CHUNK_SHINGLES", chunk)  # 7: documents span many chunks
    hasher = MinHasher(num_perm=64, seed=11, shingle_size=5, scheme=scheme)
    texts = _random_texts(seed=3, count=150)
    has_sig, sig = hasher.signatures_of_texts(pa.array(texts, type=pa.string()))
    references = [_reference(t, hasher) for t in texts]
    assert has_sig.tolist() == [r is not None for r in references]
    assert np.array_equal(sig, np.stack([r for r in references if r is not None]))


def test_short_documents_use_one_shingle_of_all_words():
    assert shingles(["a", "b"], 5) == [("a", "b")]
    assert shingles([], 5) == []
    assert len(shingles(list("abcdefg"), 5)) == 3


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
