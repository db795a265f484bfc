import numpy as np

from kerasclf.config import TokenizerConfig
from kerasclf.data.text import cut
from kerasclf.data.tokenize import WordTokenizer

TEXTS = ["A wonderful film.<br /><br />I LOVED it!", "A dull film; I hated it.", "wonderful wonderful acting"]


def test_fit_encode_pads_and_strips_html_and_case():
    tok = WordTokenizer.fit(TEXTS, TokenizerConfig(), max_length=12)
    ids = tok.encode(TEXTS)
    assert ids.shape == (3, 12) and ids.dtype == np.int32
    words = tok.decode(ids[0])
    assert words == ["a", "wonderful", "film", ".", "i", "loved", "it", "!"]
    assert (ids[0, len(words) :] == 0).all()  # right padding with [PAD] = 0
    assert "<" not in "".join(tok.tokenizer.get_vocab())


def test_unknown_words_and_min_freq():
    tok = WordTokenizer.fit(TEXTS, TokenizerConfig(min_freq=2), max_length=8)
    assert tok.decode(tok.encode(["wonderful zebra"])[0]) == ["wonderful", "[UNK]"]
    assert "hated" not in tok.tokenizer.get_vocab()


def test_max_tokens_caps_the_vocabulary():
    tok = WordTokenizer.fit(TEXTS, TokenizerConfig(max_tokens=5), max_length=8)
    assert tok.vocab_size == 5


def test_truncation_head_and_tail():
    text = ["one two three four five six"]
    head = WordTokenizer.fit(text, TokenizerConfig(truncation="head"), max_length=3)
    tail = WordTokenizer.fit(text, TokenizerConfig(truncation="tail"), max_length=3)
    assert head.decode(head.encode(text)[0]) == ["one", "two", "three"]
    assert tail.decode(tail.encode(text)[0]) == ["four", "five", "six"]


def test_truncation_head_tail_keeps_both_ends(tmp_path):
    text = ["one two three four five six seven", "short one"]
    tok = WordTokenizer.fit(text, TokenizerConfig(truncation="head_tail", head_tokens=2), max_length=5)
    ids = tok.encode(text)
    assert tok.decode(ids[0]) == ["one", "two", "five", "six", "seven"]
    assert tok.decode(ids[1]) == ["short", "one"] and ids.shape == (2, 5)
    tok.save(tmp_path / "t.json")
    again = WordTokenizer.load(tmp_path / "t.json", head_tokens=2)
    assert (again.encode(text) == ids).all()


def test_save_load_round_trip(tmp_path):
    tok = WordTokenizer.fit(TEXTS, TokenizerConfig(lowercase=False), max_length=10)
    tok.save(tmp_path / "t.json")
    again = WordTokenizer.load(tmp_path / "t.json")
    new = ["A film I LOVED, unseen words here"]
    assert (again.encode(new) == tok.encode(new)).all()
    assert again.max_length == 10 and again.vocab_size == tok.vocab_size


def test_progress_bar_path_gives_the_same_ids():
    texts = [f"review number {i} was good" for i in range(5000)]
    tok = WordTokenizer.fit(texts, TokenizerConfig(), max_length=6)
    assert (tok.encode(texts, progress=True) == tok.encode(texts)).all()


def test_nfkc_folds_compatibility_characters():
    texts = ["ﬁne\u00a0film…", "fine film..."]
    plain = WordTokenizer.fit(texts, TokenizerConfig(), max_length=6)
    folded = WordTokenizer.fit(texts, TokenizerConfig(nfkc=True), max_length=6)
    a, b = folded.encode(texts)
    assert a.tolist() == b.tolist()
    assert plain.encode(texts)[0].tolist() != plain.encode(texts)[1].tolist()


def test_cut_keeps_head_tail_or_both():
    ids = list(range(10))
    assert cut(ids, 4, "head") == [0, 1, 2, 3]
    assert cut(ids, 4, "tail") == [6, 7, 8, 9]
    assert cut(ids, 4, "head_tail", 1) == [0, 7, 8, 9]
    assert cut(ids, 4, "head_tail", 4) == cut(ids, 4, "head_tail", 9) == [0, 1, 2, 3]
    assert cut(ids, 4, "head_tail", 0) == [6, 7, 8, 9]
    assert cut(ids, 12, "tail") is ids


def test_truncation_attribute_and_lengths_before_truncation(tmp_path):
    text = ["one two three four five six", "two three"]
    for mode in ("head", "tail", "head_tail"):
        tok = WordTokenizer.fit(text, TokenizerConfig(truncation=mode, head_tokens=1), max_length=3)
        tok.save(tmp_path / f"{mode}.json")
        again = WordTokenizer.load(tmp_path / f"{mode}.json", 1 if mode == "head_tail" else None)
        assert tok.truncation == again.truncation == mode
        assert tok.lengths(text).tolist() == [6, 2] and tok.encode(text).shape == (2, 3)


def test_decode_skips_padding_and_names_unknown_ids():
    tok = WordTokenizer.fit(TEXTS, TokenizerConfig(), max_length=8)
    assert tok.decode([1, tok.tokenizer.token_to_id("film"), 0, 0, 10_000, -1]) == ["[UNK]", "film", "[UNK]", "[UNK]"]
