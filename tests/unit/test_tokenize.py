import pyarrow as pa

from tailguard.text.tokenize import words, words_arrow


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
