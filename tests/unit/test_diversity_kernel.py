"""The group-local diversity kernel equals exact per-group computations (no Spark)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.compute  # noqa: F401  (pa.compute)
import pytest

from tailguard.diversity import blobs, hll
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


def _doc(okey, era, month, length, domain="a.com", scope="pre_ai"):
    text = " ".join(RNG.choice(VOCAB, size=length)) if length else ""
    sig = RNG.integers(0, 50, size=8).astype("<u4").tobytes()
    return {"scope": scope, "domain": domain, "era": era, "month": month, "okey": okey,
            "text": text, "signature": sig}


DOCS = sorted([_doc(int(k), "pre_ai", m, int(n)) for k, m, n in zip(
    RNG.choice(10**6, size=30, replace=False), ["2021-01", "2021-02"] * 15,
    RNG.integers(0, 40, size=30), strict=True)], key=lambda d: d["okey"])
PARAMS = K.KernelParams(precision=8, concept_max_n=2, chunk_bytes=64, level=3,
                        budgets=(50, 200, 10**6), sample_size=5)


def _rows(docs, with_sig_rows=True):
    """Input rows in the job's order: text row, then its signature row."""
    rows = []
    for d in docs:
        rows.append({**d, "signature": None, "is_sig": False, "stop": False})
        if with_sig_rows:
            rows.append({**d, "text": None, "is_sig": True, "stop": False})
    return rows


def _run(params, rows, tail_keys=(), batch=7, arrow=False):
    fields = [("scope", pa.string()), ("domain", pa.string()), ("era", pa.string()),
              ("month", pa.string()), ("okey", pa.int64()), ("text", pa.string()),
              ("signature", pa.binary()), ("is_sig", pa.bool_()), ("stop", pa.bool_())]
    if any("defines_tail" in r for r in rows):  # optional: without it every doc counts
        fields.append(("defines_tail", pa.bool_()))
    schema = pa.schema(fields)
    batches = [pa.RecordBatch.from_pylist(rows[i:i + batch], schema=schema)
               for i in range(0, len(rows), batch)]
    fn = K.kernel_fn(params, np.sort(np.array(list(tail_keys), np.uint64)))
    out = pa.Table.from_batches(list(fn(iter(batches))), schema=K.OUTPUT_SCHEMA)
    return out if arrow else out.to_pandas()


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
        elif key == "entropy_unigram":
            assert row[key] == pytest.approx(value)
        else:
            assert row[key] == pytest.approx(value), key


@pytest.mark.parametrize("batch", [1, 7, 100])
def test_group_rows_equal_exact_values_across_batch_edges(batch):
    out = _run(PARAMS, _rows(DOCS), batch=batch)
    metrics = out[(out.kind == K.KIND_METRICS) & out.token_budget.isna()]
    for month in ("2021-01", "2021-02", K.ALL):
        docs = [d for d in DOCS if month in (K.ALL, d["month"])]
        row = metrics[metrics.month == month]
        assert len(row) == 1
        exact = _exact(docs, PARAMS)
        if month == K.ALL:  # compressed sizes of the union are the sums of its months
            exact.pop("sizes")
        _check(row.iloc[0], exact)
        assert row.iloc[0].homogenization_sample == PARAMS.sample_size


def test_budget_samples_are_okey_prefixes_with_exact_concepts():
    tail_keys = [ng.word_hash(w) for w in VOCAB[:40]]
    out = _run(PARAMS, _rows(DOCS), tail_keys)
    budgets = out[(out.kind == K.KIND_METRICS) & out.token_budget.notna()]
    total = sum(len(words(d["text"])) for d in DOCS)
    assert sorted(budgets.token_budget) == [b for b in PARAMS.budgets if b <= total]
    for _, row in budgets.iterrows():
        lengths = np.cumsum([len(words(d["text"])) for d in DOCS])
        prefix = [d for d, end in zip(DOCS, lengths, strict=True) if end <= row.token_budget]
        _check(row, {k: v for k, v in _exact(prefix, PARAMS).items() if k != "sizes"})
        concepts = Counter(h for d in prefix
                           for h in ng.concept_hashes_py(words(d["text"]), PARAMS.concept_max_n))
        assert row.distinct_concepts == len(concepts)
        assert row.concept_occurrences == sum(concepts.values())
        assert row.f1 == sum(1 for c in concepts.values() if c == 1)
        assert row.f2 == sum(1 for c in concepts.values() if c == 2)
        assert row.covered == len(set(concepts) & set(tail_keys))


@pytest.mark.parametrize("batch", [1, 7, 100])
def test_documents_that_define_the_tail_do_not_count_for_coverage(batch):
    """covered = tail concepts of the sample's documents outside the tail-defining half;
    the sample itself (tokens, concepts, rarefaction) keeps every document, and the
    scope-wide budgets pass gets the flag with its candidates."""
    tail_keys = [ng.word_hash(w) for w in VOCAB[:60]]
    defines = {d["okey"]: i % 3 == 0 for i, d in enumerate(DOCS)}
    rows = [{**r, "defines_tail": defines[r["okey"]] and not r["is_sig"]}
            for r in _rows(DOCS)]
    out = _run(PARAMS, rows, tail_keys, batch=batch)
    budgets = out[(out.kind == K.KIND_METRICS) & out.token_budget.notna()]
    lengths = np.cumsum([len(words(d["text"])) for d in DOCS])
    assert len(budgets) >= 2
    for _, row in budgets.iterrows():
        prefix = [d for d, end in zip(DOCS, lengths, strict=True) if end <= row.token_budget]

        def concepts(docs):
            return {h for d in docs
                    for h in ng.concept_hashes_py(words(d["text"]), PARAMS.concept_max_n)}
        counting = concepts([d for d in prefix if not defines[d["okey"]]])
        assert row.covered == len(counting & set(tail_keys))
        assert row.covered < len(concepts(prefix) & set(tail_keys))  # the flag matters
        assert row.distinct_concepts == len(concepts(prefix))
    cands = out[out.kind == K.KIND_CANDIDATE]
    assert cands.stop.any() or len(cands) == len(DOCS)
    texts = cands[~cands.stop.astype(bool)]
    assert texts.defines_tail.tolist() == [defines[k] for k in texts.okey]


def test_replicate_rungs_extend_below_the_floor_by_halving():
    params = K.KernelParams(budgets=(2000, 4000, 8000, 16000), replicate_max_budget=8000,
                            replicate_min_budget=500)
    assert params.replicate_budgets == (500, 1000, 2000, 4000, 8000)
    assert K.KernelParams(budgets=(2000, 4000), replicate_min_budget=1500
                          ).replicate_budgets == (2000, 4000)
    assert K.KernelParams(budgets=(2000, 4000), replicate_max_budget=600
                          ).replicate_budgets == (500,)
    assert K.KernelParams(budgets=(2000,), replicate_max_budget=0).replicate_budgets == ()


def test_scope_wide_budgets_from_partition_candidates_equal_one_pass():
    """Two partitions' candidates + stop markers give the same scope-wide samples as
    walking all documents in okey order; a huge early document stops the walk."""
    huge = {**_doc(-5, "pre_ai", "2021-03", 0, domain="c.com"), "text": "w1 " * 400}
    docs = sorted(DOCS + [_doc(int(k), "pre_ai", "2021-01", 30, domain="b.com")
                          for k in RNG.choice(10**6, size=10, replace=False)] + [huge],
                  key=lambda d: d["okey"])
    params = K.KernelParams(**{**PARAMS.__dict__, "budgets": (50, 200, 300)})
    parts = [[d for d in docs if d["domain"] != "b.com"],
             [d for d in docs if d["domain"] == "b.com"]]
    by_domain = [sorted(p, key=lambda d: (d["domain"], d["okey"])) for p in parts]
    cands = pd_concat([_run(params, _rows(p)) for p in by_domain])
    cands = cands[cands.kind == K.KIND_CANDIDATE].sort_values("okey")
    rows = [{"scope": r.scope, "domain": r.domain, "era": r.era, "month": r.month,
             "okey": int(r.okey), "text": r.text, "signature": r.signature, "is_sig": False,
             "stop": bool(r.stop)} for r in cands.itertuples()]
    out = _run(K.KernelParams(**{**params.__dict__, "mode": "budgets"}), rows)
    # the huge document comes first and holds 400 tokens: no budget has a sample
    assert out.empty
    without = [d for d in docs if d is not huge]
    parts = [[d for d in without if d["domain"] != "b.com"],
             [d for d in without if d["domain"] == "b.com"]]
    cands = pd_concat([_run(params, _rows(sorted(p, key=lambda d: (d["domain"], d["okey"]))))
                       for p in parts])
    cands = cands[cands.kind == K.KIND_CANDIDATE].sort_values("okey")
    rows = [{"scope": r.scope, "domain": r.domain, "era": r.era, "month": r.month,
             "okey": int(r.okey), "text": r.text, "signature": r.signature, "is_sig": False,
             "stop": bool(r.stop)} for r in cands.itertuples()]
    out = _run(K.KernelParams(**{**params.__dict__, "mode": "budgets"}), rows)
    lengths = np.cumsum([len(words(d["text"])) for d in without])
    assert sorted(out.token_budget) == [50, 200, 300]
    for _, row in out.iterrows():
        prefix = [d for d, end in zip(without, lengths, strict=True) if end <= row.token_budget]
        assert (row.domain, row.era, row.month) == (K.ALL, "pre_ai", K.ALL)
        _check(row, {k: v for k, v in _exact(prefix, params).items() if k != "sizes"})


def pd_concat(frames):
    import pandas as pd

    return pd.concat(frames, ignore_index=True)


def test_rollup_partials_merge_to_the_exact_union():
    docs = sorted(DOCS + [_doc(int(k), "pre_ai", "2021-01", 25, domain="b.com")
                          for k in RNG.choice(10**6, size=6, replace=False)],
                  key=lambda d: (d["domain"], d["okey"]))
    out = _run(PARAMS, _rows(docs))
    gid = K.group_key("pre_ai", K.ALL, "pre_ai", "2021-01", None)
    union = sorted([d for d in docs if d["month"] == "2021-01"], key=lambda d: d["okey"])
    exact = _exact(union, PARAMS)
    sums = out[(out.kind == K.KIND_SUMS) & (out.gid == gid)].iloc[0]
    for key in ("n_docs", "n_tokens", "ngrams_1", "ngrams_4"):
        assert sums[key] == exact[key]
    regs = out[(out.kind == K.KIND_REGISTERS) & (out.gid == gid)].sort_values("n")
    got = [hll.estimate(hll.decode(b, PARAMS.precision)) for b in regs.registers]
    assert got == pytest.approx([exact[f"distinct_n_{n}"] for n in range(1, 5)])
    word_rows = out[(out.kind == K.KIND_WORDS) & (out.gid == gid)]
    assert len(word_rows) > 1  # packed per key bucket
    counts = {}
    for bucket, keys, packed in zip(word_rows.key, word_rows.word_keys, word_rows.word_counts,
                                    strict=True):
        keys, values = blobs.unpack(keys, packed)
        assert (keys % np.uint64(64) == np.uint64(bucket)).all()
        counts.update(zip(keys.tolist(), values.tolist(), strict=True))
    assert sorted(counts.values()) == sorted(Counter(
        w for d in union for w in words(d["text"])).values())
    assert entropy_from_counts(list(counts.values())) == pytest.approx(
        exact["entropy_unigram"])
    sample = out[(out.kind == K.KIND_SAMPLE) & (out.gid == gid)].okey.tolist()
    assert sample == [d["okey"] for d in union[: PARAMS.sample_size]]


def test_empty_input_gives_no_rows():
    assert list(K.kernel_fn(PARAMS, np.zeros(0, np.uint64))(iter([]))) == []


def test_compacted_word_counts_give_the_same_entropy(monkeypatch):
    """A large domain's words are summed as they come (bounded memory), same results."""
    plain = _run(PARAMS, _rows(DOCS))
    monkeypatch.setattr(K, "COMPACT_ROWS", 10)
    compact = _run(PARAMS, _rows(DOCS))
    cols = ["gid", "entropy_unigram", "n_tokens"]
    a = plain[plain.kind == K.KIND_METRICS][cols].sort_values("gid").reset_index(drop=True)
    b = compact[compact.kind == K.KIND_METRICS][cols].sort_values("gid").reset_index(drop=True)
    assert len(a) > 3
    np.testing.assert_allclose(a.entropy_unigram, b.entropy_unigram)
    assert a.n_tokens.tolist() == b.n_tokens.tolist()


def test_streaming_rollup_merge_equals_one_partition(monkeypatch):
    """Partials of two partitions, merged by the streaming rollup pass in tiny batches
    (words split across batch edges), equal the kernel's own merge of one partition."""
    from tailguard.diversity import rollup

    docs = sorted(DOCS + [_doc(int(k), "pre_ai", "2021-01", 25, domain="b.com")
                          for k in RNG.choice(10**6, size=6, replace=False)],
                  key=lambda d: (d["domain"], d["okey"]))
    halves = pa.concat_tables([
        _run(PARAMS, _rows([d for d in docs if d["domain"] == dom]), arrow=True)
        for dom in ("a.com", "b.com")])
    kinds = pa.array([K.KIND_SUMS, K.KIND_REGISTERS, K.KIND_WORDS, K.KIND_SAMPLE], pa.int8())
    parts = halves.filter(pa.compute.is_in(halves.column("kind"), value_set=kinds))
    parts = parts.sort_by([("gid", "ascending"), ("kind", "ascending"), ("key", "ascending"),
                           ("okey", "ascending")]).select(list(rollup._PARTIAL_COLUMNS))
    batches = parts.to_batches(max_chunksize=3)
    merged = pa.Table.from_batches(list(rollup._merge_partials(PARAMS.precision, 5)(
        iter(batches)))).to_pandas()
    gid = K.group_key("pre_ai", K.ALL, "pre_ai", "2021-01", None)
    got = merged[merged.gid == gid].iloc[0]
    union = sorted([d for d in docs if d["month"] == "2021-01"], key=lambda d: d["okey"])
    exact = _exact(union, PARAMS)
    for key in ("n_docs", "n_tokens", "ngrams_2"):
        assert got[key] == exact[key]
    for n in range(1, 5):
        assert got[f"distinct_n_{n}"] == pytest.approx(exact[f"distinct_n_{n}"])
    assert got.entropy_unigram == pytest.approx(exact["entropy_unigram"])
    assert got.homogenization == pytest.approx(exact["homogenization"])


def test_a_null_domain_is_its_own_run():
    """Spark sorts null domains first; they must not merge into the next domain's run."""
    nameless = [{**d, "domain": None} for d in DOCS[:4]]
    out = _run(PARAMS, _rows(nameless + DOCS[4:]))
    rows = out[(out.kind == K.KIND_METRICS) & out.token_budget.isna() & (out.month == K.ALL)]
    got = {d: int(n) for d, n in zip(rows.domain.fillna("<null>"), rows.n_docs, strict=True)}
    assert got == {"<null>": 4, "a.com": len(DOCS) - 4}


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


def test_rollup_merge_refuses_unsorted_word_buckets():
    from tailguard.diversity import rollup

    out = _run(PARAMS, _rows(DOCS), arrow=True)
    words_only = out.filter(pa.compute.equal(out.column("kind"), K.KIND_WORDS))
    twice = pa.concat_tables([words_only, words_only]).select(list(rollup._PARTIAL_COLUMNS))
    by_group = twice.take(pa.array(np.argsort(twice.column("gid").to_numpy(), kind="stable")))
    assert by_group.num_rows > len(set(by_group.column("gid").to_pylist()))
    with pytest.raises(ValueError, match="word rows of group .* are not contiguous"):
        list(rollup._merge_partials(PARAMS.precision, 5)(iter(by_group.to_batches())))


def test_rollup_merge_refuses_interleaved_groups():
    """The merge finishes a group when the next starts: a group seen again is an error,
    not a second, partial row."""
    from tailguard.diversity import rollup

    out = _run(PARAMS, _rows(DOCS), arrow=True)
    sums = out.filter(pa.compute.equal(out.column("kind"), K.KIND_SUMS))
    assert sums.num_rows > 1
    twice = pa.concat_tables([sums, sums]).select(list(rollup._PARTIAL_COLUMNS))
    with pytest.raises(ValueError, match="rows of group .* are not contiguous"):
        list(rollup._merge_partials(PARAMS.precision, 5)(iter(twice.to_batches())))


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


def test_era_rollup_words_are_the_sum_of_the_months():
    """The (era, __all__) rollup's words are summed from its months' at the end, the
    months' from every run of the partition as it closes: every rollup group's words
    equal the exact counts of its documents."""
    docs = sorted(DOCS + [_doc(int(k), "pre_ai", m, 25, domain=dom)
                          for k, m, dom in zip(RNG.choice(10**6, size=12, replace=False),
                                               ["2021-01", "2021-03"] * 6,
                                               ["b.com"] * 6 + ["c.com"] * 6, strict=True)],
                  key=lambda d: (d["domain"], d["okey"]))
    out = _run(PARAMS, _rows(docs))

    def words_of(gid):
        rows = out[(out.kind == K.KIND_WORDS) & (out.gid == gid)]
        counts = Counter()
        for keys, packed in zip(rows.word_keys, rows.word_counts, strict=True):
            keys, values = blobs.unpack(keys, packed)
            counts.update(dict(zip(keys.tolist(), values.tolist(), strict=True)))
        return sorted(counts.values())

    for month in ("2021-01", "2021-02", "2021-03", K.ALL):
        members = [d for d in docs if month in (K.ALL, d["month"])]
        exact = Counter(w for d in members for w in words(d["text"]))
        gid = K.group_key("pre_ai", K.ALL, "pre_ai", month, None)
        assert words_of(gid) == sorted(exact.values()), month


def test_rollup_word_tables_grow_and_stay_exact():
    """Many runs' (slot, word) rows into the rollup groups' word tables, each table
    growing many times from its smallest size: every group holds each of its words
    once, with its exact total, and two runs over the same rows list them in the same
    order."""
    from tailguard.diversity import partials

    def fill():
        rollups, exact = partials.Rollups(5), Counter()
        rng = np.random.default_rng(3)
        for _ in range(60):
            slot_gids = rng.choice(np.array([-4, 9, 2**61], np.int64), 2, replace=False)
            slots = rng.integers(0, 2, 400)
            keys = rng.integers(0, 5000, 400).astype(np.uint64)
            counts = rng.integers(1, 4, 400).astype(np.int64)
            rollups.add_words(slot_gids, slots, keys, counts)
            for s_, k, c in zip(slots.tolist(), keys.tolist(), counts.tolist(), strict=True):
                exact[(int(slot_gids[s_]), k)] += c
        return rollups, exact

    rollups, exact = fill()
    held = {}
    for gid, table in rollups.words.items():
        keys, sums = table.items()
        assert table.bits > partials.WordTable.MIN_BITS  # it grew
        assert len(keys) == len(set(keys.tolist())) == table.size
        held.update({(gid, k): c for k, c in zip(keys.tolist(), sums.tolist(), strict=True)})
    assert held == dict(exact)
    again, _ = fill()
    for gid, table in rollups.words.items():
        assert np.array_equal(table.items()[0], again.words[gid].items()[0])


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


@pytest.mark.parametrize("cap", [10**6, 60, 10])
def test_replicate_samples_are_okey_prefixes_of_their_class_up_to_the_cap(cap):
    """Replicate r's budget-B sample = the first documents with okey % R == r up to B
    tokens, measured only on rungs <= replicate_max_budget (none below the floor)."""
    params = K.KernelParams(precision=8, concept_max_n=2, chunk_bytes=64, level=3,
                            budgets=(20, 60, 150), sample_size=5, replicates=3,
                            replicate_max_budget=cap)
    out = _run(params, _rows(DOCS))
    reps = out[out.kind == K.KIND_REPLICATE]
    expected = []
    for r in range(3):
        mine = [d for d in DOCS if d["okey"] % 3 == r]
        ends = np.cumsum([len(words(d["text"])) for d in mine])
        for b in params.budgets:
            if b <= cap and ends[-1] >= b and ends[0] <= b:
                expected.append((r, b, int(ends[ends <= b][-1])))
    got = sorted(zip(reps.key.astype(int), reps.token_budget.astype(int),
                     reps.n_tokens.astype(int), strict=True))
    assert got == sorted(expected)
    assert (cap >= 150) == (150 in set(reps.token_budget))
    assert cap >= 20 or reps.empty
