"""The measuring kernel equals exact computations on the samples the ladder rule picks
(no Spark): the selection is done here with `ladder.prefix_members`, the reference the
Spark windows of `select.py` are held to."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pyarrow as pa
import pytest

from tailguard.diversity import hll, ladder
from tailguard.diversity import kernel as K
from tailguard.diversity import ngrams as ng
from tailguard.diversity.estimators import (
    ChunkCompressor,
    entropy_from_counts,
    mean_pairwise_jaccard,
)
from tailguard.text.tokenize import words

RNG = np.random.default_rng(5)
VOCAB = [f"w{i}" for i in range(300)] + ["the", "of", "and"]


def _doc(okey, month, length, domain="a.com", scope="pre_ai"):
    text = " ".join(RNG.choice(VOCAB, size=length)) if length else ""
    sig = RNG.integers(0, 50, size=8).astype("<u4").tobytes()
    return {"scope": scope, "domain": domain, "month": month, "okey": okey, "text": text,
            "n_words": len(words(text)), "signature": sig}


DOCS = sorted([_doc(int(k), m, int(n)) for k, m, n in zip(
    RNG.choice(10**6, size=30, replace=False), ["2021-01", "2021-02"] * 15,
    RNG.integers(0, 40, size=30), strict=True)], key=lambda d: d["okey"])
PARAMS = K.KernelParams(precision=8, concept_max_n=2, chunk_bytes=64, level=3,
                        budgets=(50, 200, 10**6), sample_size=5, replicates=1)
FIELDS = [("scope", pa.string()), ("domain", pa.string()), ("month", pa.string()),
          ("okey", pa.int64()), ("n_words", pa.int32()), ("text", pa.string()),
          ("signature", pa.binary()), ("is_sig", pa.bool_()), ("defines_tail", pa.bool_()),
          ("whole_top", pa.int64()), ("month_top", pa.int64()), ("rep_top", pa.int64())]


def _tops(docs, params):
    """Each document's whole / month / replicate tops by the ladder rule (None: not in
    that sample), one run per (scope, domain), docs in okey order."""
    tops = {id(d): {"whole_top": None, "month_top": None, "rep_top": None} for d in docs}
    groups = {}
    for d in docs:
        key = (d["scope"], d["domain"])
        groups.setdefault(("whole_top", *key), []).append(d)
        groups.setdefault(("month_top", *key, d["month"]), []).append(d)
        if params.replicates > 1:
            groups.setdefault(("rep_top", *key, d["okey"] % params.replicates), []).append(d)
    for (name, *_), members in groups.items():
        rungs = params.replicate_budgets if name == "rep_top" else params.budgets
        top, inside = ladder.prefix_members([m["n_words"] for m in members], rungs)
        for m, yes in zip(members, inside, strict=True):
            if yes:
                tops[id(m)][name] = top
    return [{**d, **tops[id(d)]} for d in docs]


def _rows(docs, params=PARAMS, with_sig_rows=True):
    """Input rows in the job's order: text row, then its signature row."""
    rows = []
    for d in _tops(docs, params):
        if all(d[t] is None for t in ("whole_top", "month_top", "rep_top")):
            continue  # not sampled: the job never reads its text
        rows.append({**d, "signature": None, "is_sig": False})
        if with_sig_rows:
            rows.append({**d, "text": None, "is_sig": True})
    return rows


def _run(params, rows, tail_keys=(), batch=7):
    schema = pa.schema(FIELDS)
    batches = [pa.RecordBatch.from_pylist(rows[i:i + batch], schema=schema)
               for i in range(0, len(rows), batch)]
    fn = K.kernel_fn(params, np.sort(np.array(list(tail_keys), np.uint64)))
    return pa.Table.from_batches(list(fn(iter(batches))), schema=K.OUTPUT_SCHEMA).to_pandas()


def _exact(docs, params):
    toks = [words(d["text"]) for d in docs]
    comp = ChunkCompressor(params.chunk_bytes, params.level)
    for d in docs:
        comp.add((d["text"] + "\n").encode())
    out = {"n_docs": len(docs), "n_tokens": sum(map(len, toks)),
           "entropy_unigram": entropy_from_counts(list(Counter(w for t in toks for w in t)
                                                       .values())),
           "sizes": comp.finish()}
    for n in range(1, 5):
        grams = [ng.ngram_hash_py(t[i:i + n]) for t in toks for i in range(len(t) - n + 1)]
        out[f"distinct_n_{n}"] = hll.estimate(hll.registers(np.array(grams, np.uint64),
                                                            params.precision))
        out[f"ngrams_{n}"] = len(grams)
    sigs = [np.frombuffer(d["signature"], "<u4") for d in docs[: params.sample_size]]
    out["homogenization"] = mean_pairwise_jaccard(np.stack(sigs))
    return out


def _check(row, exact):
    for key, value in exact.items():
        if key == "sizes":
            assert (row.raw_bytes, row.compressed_bytes) == value
        else:
            assert row[key] == pytest.approx(value), key


def _prefix(docs, budget):
    ends = np.cumsum([d["n_words"] for d in docs])
    return [d for d, end in zip(docs, ends, strict=True) if end <= budget]


def test_ladder_rule_fills_the_rungs_a_group_reaches():
    assert ladder.filled_top(49, (50, 200)) is None
    assert ladder.filled_top(50, (50, 200)) == 50  # exactly filled is filled
    assert ladder.filled_top(10**6, (200, 50)) == 200
    top, inside = ladder.prefix_members([30, 30, 0, 100, 5], (50, 100))
    assert top == 100 and inside.tolist() == [True, True, True, False, False]
    assert ladder.prefix_members([], (50,))[0] is None
    assert ladder.rungs_up_to((50, 200, 10), 60) == (10, 50)
    assert ladder.rungs_up_to((50,), None) == ()


@pytest.mark.parametrize("batch", [1, 7, 100])
def test_budget_samples_are_okey_prefixes_with_exact_values(batch):
    """Whole-run and per-month rows: every rung the group fills, each the exact measures
    of its okey prefix, whatever the Arrow batch edges."""
    tail_keys = [ng.word_hash(w) for w in VOCAB[:40]]
    out = _run(PARAMS, _rows(DOCS), tail_keys, batch=batch)
    metrics = out[out.kind == K.KIND_METRICS]
    assert metrics.token_budget.notna().all() and (metrics.era == "pre_ai").all()
    for month in (K.ALL, "2021-01", "2021-02"):
        docs = [d for d in DOCS if month in (K.ALL, d["month"])]
        rows = metrics[metrics.month == month]
        total = sum(d["n_words"] for d in docs)
        assert sorted(rows.token_budget) == [b for b in PARAMS.budgets if b <= total]
        for _, row in rows.iterrows():
            prefix = _prefix(docs, row.token_budget)
            _check(row, _exact(prefix, PARAMS))
            concepts = Counter(h for d in prefix for h in
                               ng.concept_hashes_py(words(d["text"]), PARAMS.concept_max_n))
            assert row.distinct_concepts == len(concepts)
            assert row.concept_occurrences == sum(concepts.values())
            assert row.f1 == sum(1 for c in concepts.values() if c == 1)
            assert row.f2 == sum(1 for c in concepts.values() if c == 2)
            assert row.covered == len(set(concepts) & set(tail_keys))


def test_only_sampled_documents_are_needed():
    """The job sends only sampled documents; the documents past every sample (tops all
    null) would change nothing if they were sent."""
    late = [_doc(10**7 + i, "2021-01", 30) for i in range(5)]  # after every prefix
    sampled = _run(PARAMS, _rows(DOCS + late))
    every = [{**d, **{t: None for t in ("whole_top", "month_top", "rep_top")},
              "is_sig": False} for d in late]
    assert len(_rows(DOCS + late)) == len(_rows(DOCS))  # the late ones are not sampled
    cols = ["month", "token_budget", "n_docs", "n_tokens", "distinct_n_2", "covered"]
    assert sampled[cols].equals(_run(PARAMS, _rows(DOCS) + every)[cols])


@pytest.mark.parametrize("batch", [1, 7, 100])
def test_documents_that_define_the_tail_do_not_count_for_coverage(batch):
    """covered = tail concepts of the sample's documents outside the tail-defining half;
    the sample itself (tokens, concepts, rarefaction) keeps every document."""
    tail_keys = [ng.word_hash(w) for w in VOCAB[:60]]
    defines = {d["okey"]: i % 3 == 0 for i, d in enumerate(DOCS)}
    rows = [{**r, "defines_tail": defines[r["okey"]] and not r["is_sig"]} for r in _rows(DOCS)]
    out = _run(PARAMS, rows, tail_keys, batch=batch)
    budgets = out[(out.kind == K.KIND_METRICS) & (out.month == K.ALL)]
    assert len(budgets) >= 2

    def concepts(docs):
        return {h for d in docs for h in ng.concept_hashes_py(words(d["text"]),
                                                              PARAMS.concept_max_n)}
    for _, row in budgets.iterrows():
        prefix = _prefix(DOCS, row.token_budget)
        assert row.covered == len(concepts([d for d in prefix if not defines[d["okey"]]])
                                  & set(tail_keys))
        assert row.covered < len(concepts(prefix) & set(tail_keys))  # the flag matters
        assert row.distinct_concepts == len(concepts(prefix))


def test_replicate_rungs_extend_below_the_floor_by_halving():
    params = K.KernelParams(budgets=(2000, 4000, 8000, 16000), replicate_max_budget=8000,
                            replicate_min_budget=500)
    assert params.replicate_budgets == (500, 1000, 2000, 4000, 8000)
    assert K.KernelParams(budgets=(2000, 4000), replicate_min_budget=1500
                          ).replicate_budgets == (2000, 4000)
    assert K.KernelParams(budgets=(2000, 4000), replicate_max_budget=600
                          ).replicate_budgets == (500,)
    assert K.KernelParams(budgets=(2000,), replicate_max_budget=0).replicate_budgets == ()


@pytest.mark.parametrize("cap", [10**6, 60, 10])
def test_replicate_samples_are_okey_prefixes_of_their_class_up_to_the_cap(cap):
    """Replicate r's budget-B sample = the first documents with okey % R == r up to B
    tokens, measured only on rungs <= replicate_max_budget."""
    params = K.KernelParams(precision=8, concept_max_n=2, chunk_bytes=64, level=3,
                            budgets=(20, 60, 150), sample_size=5, replicates=3,
                            replicate_max_budget=cap, replicate_min_budget=20)
    reps = (out := _run(params, _rows(DOCS, params)))[out.kind == K.KIND_REPLICATE]
    expected = []
    for r in range(3):
        mine = [d for d in DOCS if d["okey"] % 3 == r]
        ends = np.cumsum([d["n_words"] for d in mine])
        for b in params.budgets:
            if b <= cap and ends[-1] >= b and ends[0] <= b:
                expected.append((r, b, int(ends[ends <= b][-1])))
    got = sorted(zip(reps.key.astype(int), reps.token_budget.astype(int),
                     reps.n_tokens.astype(int), strict=True))
    assert got == sorted(expected)
    assert cap >= 20 or reps.empty


def test_a_null_domain_is_its_own_run():
    """Spark sorts null domains first; they must not merge into the next domain's run."""
    nameless = [{**d, "domain": None} for d in DOCS[:12]]
    out = _run(PARAMS, _rows(nameless + DOCS[12:]))
    rows = out[(out.kind == K.KIND_METRICS) & (out.month == K.ALL) & (out.token_budget == 50)]
    assert sorted(rows.domain.fillna("<null>")) == ["<null>", "a.com"]


def test_a_wrong_token_count_is_an_error():
    """Samples are chosen by docs.n_words; text that tokenises otherwise is refused."""
    rows = _rows(DOCS)
    rows[0] = {**rows[0], "n_words": rows[0]["n_words"] + 1}
    with pytest.raises(ValueError, match="docs.n_words is"):
        _run(PARAMS, rows)


def test_empty_input_gives_no_rows():
    assert list(K.kernel_fn(PARAMS, np.zeros(0, np.uint64))(iter([]))) == []


def test_tail_set_counts_exact_members():
    from tailguard.diversity.accum import TailSet

    rng = np.random.default_rng(11)
    tail_keys = np.unique(rng.integers(0, 2**63, 3000).astype(np.uint64) * np.uint64(2))
    members = rng.choice(tail_keys, 400, replace=False)
    # neighbours of tail keys in value (same low bits, different high bits) are not members
    impostors = tail_keys[:300] ^ np.uint64(1 << 40)
    others = rng.integers(0, 2**63, 5000).astype(np.uint64) * np.uint64(2) + np.uint64(1)
    queries = np.unique(np.concatenate([members, impostors, others]))
    tail_set = TailSet(tail_keys)
    assert tail_set.count_in(queries) == len(set(queries.tolist()) & set(tail_keys.tolist()))
    assert tail_set.count_in(queries) == 400
    assert TailSet(np.zeros(0, np.uint64)).count_in(queries) == 0
    assert tail_set.count_in(queries[:0]) == 0


@pytest.mark.parametrize("with_groups", [False, True])
def test_count_keys_sums_exactly_per_group_and_key(with_groups):
    """The hash-table count equals a dict count, for weighted rows, negative group keys
    (group_key values are signed) and keys that repeat across groups."""
    from tailguard.diversity.accum import count_keys

    rng = np.random.default_rng(11)
    keys = rng.integers(0, 2**63, size=40, dtype=np.uint64)[rng.integers(0, 40, 5000)]
    counts = rng.integers(1, 9, size=5000)
    groups = rng.choice(np.array([-7, 0, 3, 2**62], np.int64), size=5000)
    expected = Counter()
    for g, k, c in zip(groups.tolist(), keys.tolist(), counts.tolist(), strict=True):
        expected[(g, k) if with_groups else k] += c
    if with_groups:
        g, k, c = count_keys(keys, counts, groups=groups)
        got = dict(zip(zip(g.tolist(), k.tolist(), strict=True), c.tolist(), strict=True))
    else:
        k, c = count_keys(keys, counts)
        got = dict(zip(k.tolist(), c.tolist(), strict=True))
    assert got == dict(expected)
    assert k.dtype == np.uint64 and c.dtype == np.int64


@pytest.mark.parametrize("form", ["string", "large_string", "slice", "chunked"])
def test_text_bytes_lines_equal_the_texts_joined_and_encoded(form):
    """What the compressors are fed: each text's UTF-8 bytes and a newline, read from the
    Arrow buffers, equal to joining the Python strings (nulls as empty) and encoding."""
    from tailguard.diversity.accum import TextBytes

    texts = ["héllo wörld", None, "", "abc\ndef", "x" * 10, "\u2019quote\u2019"]
    column = {"string": pa.array(texts),
              "large_string": pa.array(texts, pa.large_string()),
              "slice": pa.array(["before"] + texts + ["after"]).slice(1, len(texts)),
              "chunked": pa.chunked_array([texts[:2], texts[2:]])}[form]
    source = TextBytes(column)
    for rows in ([0, 1, 2, 3, 4, 5], [4, 0], [1], [2, 2]):
        expected = ("\n".join(texts[r] or "" for r in rows) + "\n").encode("utf-8")
        assert bytes(source.lines(np.array(rows, np.int64))) == expected
    assert bytes(source.lines(np.zeros(0, np.int64))) == b""
    assert [source.text(i) for i in range(len(texts))] == texts
