import pyarrow as pa

from tailguard.text.tokenize import word_fnv, words, words_arrow


def test_words_lowercase_unicode_and_inner_apostrophes():
    text = "Don't STOP me now, l'eau 'quoted' it''s A.B 3.5 Über—straße rock'n'roll 日本語 ’tis"
    assert words(text) == ["don't", "stop", "me", "now", "l'eau", "quoted", "it", "s", "a", "b",
                           "3", "5", "über", "straße", "rock'n'roll", "日本語", "tis"]


def test_underscores_and_punctuation_split():
    assert words("snake_case__word -- a/b") == ["snake", "case", "word", "a", "b"]


def test_batch_handles_nulls_and_empties_and_matches_single():
    texts = ["Hello, world", None, "", "  ", "'", "One two three"]
    batch = words_arrow(pa.array(texts)).to_pylist()
    assert batch == [["hello", "world"], [], [], [], [], ["one", "two", "three"]]
    assert batch == [words(t) for t in texts]


def test_chunked_input_is_accepted():
    chunked = pa.chunked_array([["a b"], ["c"]])
    assert words_arrow(chunked).to_pylist() == [["a", "b"], ["c"]]


def _reference_words(text):
    """Character-by-character definition: letters/digits, apostrophes between them."""
    import unicodedata

    if not text:
        return []
    chars = text.lower().replace("\u2019", "'")

    def is_word(c):
        return unicodedata.category(c)[0] in "LN"

    keep = [is_word(c) or (c == "'" and 0 < i < len(chars) - 1 and is_word(chars[i - 1])
                            and is_word(chars[i + 1])) for i, c in enumerate(chars)]
    out, current = [], []
    for c, k in zip(chars, keep, strict=True):
        if k:
            current.append(c)
        elif current:
            out.append("".join(current))
            current = []
    if current:
        out.append("".join(current))
    return out


def test_batch_tokeniser_matches_character_level_definition_on_random_text():
    import random
    import string

    rng = random.Random(7)
    alphabet = list(string.ascii_letters + "  ''\u2019_-.,;:!?0123456789\n\t\"()/") + [
        "é", "ü", "ß", "日", "—", "“", "…", "\u0301", "Ⅻ", "٣", "\u00a0", "😀"]
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 120)))
             for _ in range(400)] + [None, "", "'", "a'", "'a", "a''b", "x'y'z"]
    batch = pa.array(texts)
    assert words_arrow(batch).to_pylist() == [_reference_words(t) for t in texts]
    sliced = batch.slice(17, 50)
    assert words_arrow(sliced).to_pylist() == [_reference_words(t) for t in texts[17:67]]


def test_ascii_and_unicode_documents_in_one_batch_tokenise_alike():
    """ASCII documents skip the Unicode pass; mixed, all-ASCII and sliced batches must
    give what the character-level definition gives for each document."""
    texts = ["Plain ASCII, don't STOP", "Ça va—très BIEN’s", None, "x'y 42",
             "ÉCOLE d’été", "", "TAB\tsep"]
    batch = pa.array(texts)
    assert words_arrow(batch).to_pylist() == [_reference_words(t) for t in texts]
    ascii_only = pa.array([t for t in texts if t is None or t.isascii()])
    assert words_arrow(ascii_only).to_pylist() == [_reference_words(t)
                                                   for t in ascii_only.to_pylist()]
    assert words_arrow(batch.slice(1, 4)).to_pylist() == [_reference_words(t)
                                                          for t in texts[1:5]]


def test_slices_of_ascii_batches_tokenise_alike():
    """A slice whose values do not start at byte 0 of the data (a batch cut from a
    larger column, as Arrow hands them over) goes through the ASCII path intact."""
    texts = [f"Doc {i} SAYS Hello, world-{i}" for i in range(40)]
    column = pa.array(texts)
    for sliced, expected in ((column.slice(25, 10), texts[25:35]),
                             (column.cast(pa.large_string()).slice(3, 5), texts[3:8])):
        assert words_arrow(sliced).to_pylist() == [_reference_words(t) for t in expected]


def test_words_and_apostrophes_at_document_edges_stay_in_their_document():
    """The compiled pass never joins a word or an apostrophe across two documents."""
    texts = ["a'", "'b", "x", "", "y'", "'", "z", "ab'cd", "q"]
    assert words_arrow(pa.array(texts)).to_pylist() == [_reference_words(t) for t in texts]
    assert words_arrow(pa.array(["end", "start"])).to_pylist() == [["end"], ["start"]]


def _fnv1a(word: str) -> int:
    h = 0xCBF29CE484222325
    for byte in word.encode("utf-8"):
        h = ((h ^ byte) * 0x100000001B3) & ((1 << 64) - 1)
    return h


def test_word_fnv_hashes_exactly_the_words_of_the_definition():
    """The fused find-and-hash pass sees the same words as the tokeniser (random text,
    document edges, nulls, slices), each hashed over exactly its own bytes."""
    import random
    import string

    rng = random.Random(11)
    alphabet = list(string.ascii_letters + "  ''\u2019_-.,;0123456789\n\"") + [
        "é", "ß", "日", "—", "\u00a0", "😀"]
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 80)))
             for _ in range(300)] + [None, "", "'", "a", "a'", "'b", "x'y'z", "ab'cd", "q"]
    batch = pa.array(texts)
    for column, expected in ((batch, texts), (batch.slice(40, 60), texts[40:100])):
        states, lengths = word_fnv(column)
        reference = [_reference_words(t) for t in expected]
        assert lengths.tolist() == [len(ws) for ws in reference]
        assert states.tolist() == [_fnv1a(w) for ws in reference for w in ws]
