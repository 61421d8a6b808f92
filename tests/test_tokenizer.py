"""Tokenizers against HF BertTokenizerFast (the package's tokenizer.json) and Google's algorithm."""

import csv
import glob
import json
import os
import random
import string
import unicodedata

import numpy as np
import pytest

from bert_jax.data.tokenizer import (
    SPECIAL_TOKENS,
    SentencePieceTokenizer,
    WordPieceTokenizer,
    load_tokenizer,
    truncate_pair,
)
from bert_jax.data.vocab_training import train_sentencepiece, train_wordpiece

HARD_CASES = [
    "Héllo, WORLD! naïve café Ångström façade",  # accents
    "東京は日本の首都です。中文字符和한국어",  # CJK (split per character) and Hangul (not CJK)
    "emoji 😀👍🏽 and flags 🇫🇷!",  # emoji, skin tone modifiers, regional indicators
    "zero\u200bwidth\u200dspace\ufeffand\u2060joiner",  # zero-width and format characters
    "ctrl\x00\x07\x1bchars\x7f and \ufffd replacement",  # control characters
    "tab\tnew\nline\r\u00a0nbsp\u2003em\u3000ideographic",  # unicode spaces
    "“curly” ‘quotes’ — dashes – and… ellipsis ¿qué? ¡sí!",  # unicode punctuation
    "x" * 150 + " short " + "y" * 100 + " " + "z" * 101,  # words over / at the 100-char limit
    "",
    "   \t\n  ",
    "[MASK] literal [CLS] and [SEP] tokens [UNK]",
    "İstanbul ǅ ß ﬁ ℌ Ⅻ ½ ㎏",  # case and compatibility characters
    "email@example.com http://x.y/z?a=1&b=2 #hashtag $9.99 50%",
    "don't won't y'all rock'n'roll",
    "Combining: e\u0301 a\u0308 n\u0303",
]


def read_shared_sentences(shared_data):
    """Every text field of the shared GLUE train/dev TSVs, plus SQuAD questions and contexts."""
    text_columns = {  # task → (has header, text column indices), as in the released files
        "SST-2": (True, [0]), "CoLA": (False, [3]), "MRPC": (True, [3, 4]), "RTE": (True, [1, 2]),
        "STS-B": (True, [7, 8]), "WNLI": (True, [1, 2]),
    }
    singles, pairs = [], []
    for task, (header, cols) in text_columns.items():
        for split in ("train", "dev"):
            with open(os.path.join(shared_data, "glue", task, f"{split}.tsv"), encoding="utf-8-sig") as f:
                rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[1 if header else 0:]
            for row in rows:
                singles.extend(row[c] for c in cols)
                if len(cols) == 2:
                    pairs.append((row[cols[0]], row[cols[1]]))
    for path in glob.glob(os.path.join(shared_data, "squad", "*", "*.json")):
        for article in json.load(open(path, encoding="utf-8"))["data"]:
            for para in article["paragraphs"]:
                singles.append(para["context"])
                singles.extend(qa["question"] for qa in para["qas"])
    return singles, pairs


@pytest.fixture(scope="module")
def shared_text(shared_data):
    return read_shared_sentences(shared_data)


@pytest.fixture(scope="module")
def hf_fast(minilm_dir, torch_transformers):
    _, transformers = torch_transformers
    tok = transformers.BertTokenizerFast(tokenizer_file=os.path.join(minilm_dir, "tokenizer.json"))
    tok.backend_tokenizer.no_truncation()  # the package's tokenizer.json pads/truncates to 128 itself
    tok.backend_tokenizer.no_padding()
    return tok


@pytest.fixture(scope="module")
def ours(minilm_dir):
    return WordPieceTokenizer(os.path.join(minilm_dir, "vocab.txt"))


@pytest.mark.slow
def test_ids_identical_to_hf_on_all_shared_text(ours, hf_fast, shared_text):
    singles, pairs = shared_text
    assert len(singles) > 113_000  # GLUE rows per MANIFEST.md + 5,397 SQuAD questions + contexts
    batch = ours.encode_batch(singles)
    lengths = batch["attention_mask"].sum(1)
    expected = hf_fast(singles)["input_ids"]
    mismatches = [i for i, ids in enumerate(expected) if batch["input_ids"][i, : lengths[i]].tolist() != ids]
    assert not mismatches, [singles[i] for i in mismatches[:5]]
    a, b = zip(*pairs, strict=True)
    ours_pairs = ours.encode_batch(a, b)
    hf_pairs = hf_fast(list(a), list(b))
    n = ours_pairs["attention_mask"].sum(1)
    for i in range(len(pairs)):
        assert ours_pairs["input_ids"][i, : n[i]].tolist() == hf_pairs["input_ids"][i]
        assert ours_pairs["token_type_ids"][i, : n[i]].tolist() == hf_pairs["token_type_ids"][i]


def test_hard_cases_match_hf(ours, hf_fast):
    for text in HARD_CASES:
        assert ours.encode(text).input_ids == hf_fast(text)["input_ids"], repr(text)
        # HF's single-example call drops an empty pair (a truthiness check); its batch path, like ours,
        # keeps it as an empty B segment: compare with the batch path.
        pair_ids = hf_fast([text], [text[::-1]])["input_ids"][0]
        assert ours.encode(text, text[::-1]).input_ids == pair_ids, repr(text)
    assert ours.tokenize("x" * 150) == ["[UNK]"] and ours.tokenize("z" * 101) == ["[UNK]"]
    assert "[UNK]" not in ours.tokenize("y" * 100)  # exactly at the limit: still split into pieces
    assert ours.tokenize("") == [] and ours.encode("").input_ids == [ours.cls_id, ours.sep_id]


def google_normalize(text: str, lowercase: bool) -> str:
    """Transcription of google-research/bert tokenization.py: _clean_text, lower, _run_strip_accents."""
    out = []
    for ch in text:
        cp = ord(ch)
        if cp == 0 or cp == 0xFFFD or (unicodedata.category(ch).startswith("C") and ch not in "\t\n\r"):
            continue
        out.append(ch)
    text = "".join(out)
    if lowercase:
        text = unicodedata.normalize("NFD", text.lower())
        text = "".join(ch for ch in text if unicodedata.category(ch) != "Mn")
    return text


def check_offsets(tokenizer, text, lowercase=True):
    """Each token's span, normalised as Google does, is the token's piece. Tokens that come from one
    source character (a Hangul syllable decomposes into several jamo pieces) share its span, so
    consecutive tokens with the same span are checked together."""
    enc = tokenizer.encode(text)
    groups = []  # [(start, end), pieces]
    previous_word = None
    for token_id, span, seq, word in zip(enc.input_ids, enc.offsets, enc.sequence_ids, enc.word_ids, strict=True):
        if seq is None:
            assert tuple(span) == (0, 0)
            continue
        piece = tokenizer.id_to_token(token_id)
        if word == previous_word and piece.startswith("##"):
            piece = piece[2:]
        previous_word = word
        if groups and groups[-1][0] == tuple(span):
            groups[-1][1].append(piece)
        else:
            groups.append((tuple(span), [piece]))
    previous_end = 0
    for (start, end), pieces in groups:
        assert previous_end <= start < end <= len(text), (text, start, end)
        source = text[start:end]
        if pieces == ["[UNK]"] and source != "[UNK]":  # an unknown word: its whole span
            assert source and source.strip() == source
        elif len(pieces) == 1 and pieces[0] in SPECIAL_TOKENS:  # literal "[MASK]" in the text, matched raw
            assert source == pieces[0]
        else:
            assert google_normalize(source, lowercase) == "".join(pieces), (text, source, pieces)
        previous_end = end


def test_offsets_map_every_token_to_its_source_span(ours, shared_text):
    for text in HARD_CASES:
        check_offsets(ours, text)
    singles, _ = shared_text
    for text in singles[::7]:
        check_offsets(ours, text)


def hf_tokenizer_from_vocab(transformers, vocab, directory, lowercase=True):
    """BertTokenizerFast built by transformers itself from a vocab.txt (no tokenizer.json), the way
    from_pretrained does it for Google's checkpoints, in any transformers version."""
    os.makedirs(directory, exist_ok=True)
    with open(vocab, "rb") as src, open(os.path.join(directory, "vocab.txt"), "wb") as dst:
        dst.write(src.read())
    with open(os.path.join(directory, "tokenizer_config.json"), "w") as f:
        json.dump({"do_lower_case": lowercase, "tokenizer_class": "BertTokenizer"}, f)
    return transformers.BertTokenizerFast.from_pretrained(directory)


def test_cased_mode_matches_cased_hf_tokenizer(minilm_dir, torch_transformers, shared_text, tmp_path):
    _, transformers = torch_transformers
    vocab = os.path.join(minilm_dir, "vocab.txt")
    cased = WordPieceTokenizer(vocab, lowercase=False)
    hf = hf_tokenizer_from_vocab(transformers, vocab, str(tmp_path / "cased"), lowercase=False)
    assert hf("Héllo")["input_ids"] != hf("hello")["input_ids"]  # really cased
    singles, _ = shared_text
    texts = HARD_CASES + singles[::5]
    ours_ids = cased.encode_batch(texts)
    n = ours_ids["attention_mask"].sum(1)
    for i, ids in enumerate(hf(texts)["input_ids"]):
        assert ours_ids["input_ids"][i, : n[i]].tolist() == ids, texts[i]
    assert cased.tokenize("Héllo") != WordPieceTokenizer(vocab).tokenize("Héllo")
    for text in HARD_CASES:
        check_offsets(cased, text, lowercase=False)


def google_truncate_seq_pair(tokens_a, tokens_b, max_length):
    """google-research/bert run_classifier.py, verbatim logic."""
    while True:
        total_length = len(tokens_a) + len(tokens_b)
        if total_length <= max_length:
            break
        if len(tokens_a) > len(tokens_b):
            tokens_a.pop()
        else:
            tokens_b.pop()


def test_truncation_is_googles_truncate_seq_pair(ours):
    rng = np.random.default_rng(0)
    for _ in range(2000):
        la, lb, budget = rng.integers(0, 60, 3)
        a, b = list(range(la)), list(range(lb))
        google_truncate_seq_pair(a, b, budget)
        assert truncate_pair(la, lb, budget, "longest_first") == (len(a), len(b))
    enc = ours.encode("one two three four five six", "seven eight nine ten", max_length=8)
    assert enc.input_ids == ours.encode("one two three", "seven eight").input_ids
    enc = ours.encode("one two three four five six", "seven", max_length=8, truncation="only_first",
                      padding="max_length")
    assert enc.input_ids == ours.encode("one two three four", "seven").input_ids
    padded = ours.encode("one", max_length=6, padding="max_length")
    assert padded.input_ids[3:] == [ours.pad_id] * 3 and padded.attention_mask == [1, 1, 1, 0, 0, 0]
    with pytest.raises(ValueError, match="truncation is off"):
        ours.encode("one two three", max_length=4, truncation=False)
    with pytest.raises(ValueError, match="only the second"):
        ours.encode("one two three", "x", max_length=4, truncation="only_second")


def test_batch_matches_single_and_decode_matches_hf(ours, hf_fast):
    texts = ["The cat sat.", "A much longer sentence with more words in it.", "Hi"]
    batch = ours.encode_batch(texts, max_length=10, padding="max_length", return_offsets=True)
    for i, text in enumerate(texts):
        single = ours.encode(text, max_length=10, padding="max_length")
        assert batch["input_ids"][i].tolist() == single.input_ids
        assert batch["offsets"][i].tolist() == [list(o) for o in single.offsets]
    ids = ours.encode("Héllo, world! It's 3.5% [MASK].").input_ids
    assert ours.decode(ids) == hf_fast.decode(ids, skip_special_tokens=True)
    assert ours.decode(ids, skip_special_tokens=False) == hf_fast.decode(ids)


def test_load_tokenizer_from_hf_directory_needs_no_tokenizer_json(minilm_dir, tmp_path):
    for name in ("vocab.txt", "tokenizer_config.json"):
        (tmp_path / name).write_bytes(open(os.path.join(minilm_dir, name), "rb").read())
    tok = load_tokenizer(str(tmp_path))
    assert isinstance(tok, WordPieceTokenizer) and tok.lowercase
    assert tok.encode("Hello").input_ids == [101, 7592, 102]


def test_bad_vocab_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        WordPieceTokenizer(str(tmp_path / "nope.txt"))
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(ValueError, match="is empty"):
        WordPieceTokenizer(str(empty))
    no_mask = tmp_path / "no_mask.txt"
    no_mask.write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n")
    with pytest.raises(ValueError, match=r"lacks the special tokens \['\[MASK\]'\]"):
        WordPieceTokenizer(str(no_mask))
    not_sp = tmp_path / "bad.model"
    not_sp.write_bytes(b"this is not a sentencepiece model")
    with pytest.raises(ValueError, match="not a SentencePiece model"):
        SentencePieceTokenizer(str(not_sp))


def _corpus(shared_data, tmp_path, n_books=3):
    books = sorted(glob.glob(os.path.join(shared_data, "text-corpus", "gutenberg", "*.txt")))[:n_books]
    path = tmp_path / "corpus.txt"
    path.write_text("".join(open(b, encoding="utf-8", errors="replace").read() for b in books))
    return str(path)


def test_train_wordpiece_writes_a_google_vocab_that_hf_reads(shared_data, tmp_path, torch_transformers):
    _, transformers = torch_transformers
    tok = train_wordpiece(_corpus(shared_data, tmp_path), vocab_size=2000, out_dir=str(tmp_path / "wp"))
    lines = open(tmp_path / "wp" / "vocab.txt", encoding="utf-8").read().splitlines()
    assert lines[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] and 1500 < len(lines) <= 2000
    assert any(t.startswith("##") for t in lines)
    text = "It was the best of times, it was the worst of times."
    assert tok.unk_id not in tok.encode(text).input_ids
    hf = hf_tokenizer_from_vocab(transformers, str(tmp_path / "wp" / "vocab.txt"), str(tmp_path / "hf"))
    assert tok.encode(text).input_ids == hf(text)["input_ids"]
    assert isinstance(load_tokenizer(str(tmp_path / "wp")), WordPieceTokenizer)


def test_train_wordpiece_gives_the_same_vocab_every_time(tmp_path):
    """The `tokenizers` trainer alone numbers '##' pieces in hash-map order and breaks ties between equally
    frequent merges by those numbers (huggingface/tokenizers#1794): on this corpus three runs gave three
    vocabs. Zipf-distributed random words, so that many merges tie."""
    rng = random.Random(0)
    words = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 9))) for _ in range(3000)]
    weights = [1 / (rank + 1) for rank in range(len(words))]
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(" ".join(rng.choices(words, weights, k=12)) for _ in range(4000)))
    vocabs = []
    for run in range(3):
        train_wordpiece(str(corpus), vocab_size=1000, out_dir=str(tmp_path / str(run)))
        vocabs.append((tmp_path / str(run) / "vocab.txt").read_text().splitlines())
    assert vocabs[1] == vocabs[0] and vocabs[2] == vocabs[0]
    # Google's layout: the specials, the characters, their '##' forms, then the merged pieces.
    single = [t for t in vocabs[0][5:] if len(t) == 1]
    continuing = [t for t in vocabs[0] if t.startswith("##") and len(t) == 3]
    assert single == sorted(string.ascii_lowercase) and continuing == ["##" + c for c in single]
    assert vocabs[0][:5 + 2 * len(single)] == [*SPECIAL_TOKENS, *single, *continuing]


def test_train_and_use_sentencepiece(shared_data, tmp_path):
    import sentencepiece as spm

    tok = train_sentencepiece(_corpus(shared_data, tmp_path, 2), vocab_size=1000, out_dir=str(tmp_path / "sp"))
    assert (tok.pad_id, tok.unk_id, tok.cls_id, tok.sep_id, tok.mask_id) == (0, 1, 2, 3, 4)
    text, pair = "The Old Man looked at the sea, naïvely.", "Second text"
    enc = tok.encode(text, pair)
    raw = spm.SentencePieceProcessor(model_file=str(tmp_path / "sp" / "spiece.model"))
    a, b = raw.encode(text), raw.encode(pair)
    assert enc.input_ids == [2, *a, 3, *b, 3]
    assert enc.token_type_ids == [0] * (len(a) + 2) + [1] * (len(b) + 1)
    for token_id, (start, end), seq in zip(enc.input_ids, enc.offsets, enc.sequence_ids, strict=True):
        if seq is None:
            continue
        source = (text, pair)[seq]
        piece = tok.id_to_token(token_id).replace("\u2581", "")
        span = unicodedata.normalize("NFKC", source[start:end]).casefold().strip()
        assert span == piece or (token_id == tok.unk_id and span)  # 'ï' is too rare for a 1k vocab
    plain = tok.encode("The sea was calm.", "So was he.")
    assert tok.decode(plain.input_ids) == "the sea was calm. so was he."  # special pieces dropped, case folded
    assert isinstance(load_tokenizer(str(tmp_path / "sp")), SentencePieceTokenizer)
