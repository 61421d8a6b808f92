"""RoBERTa's byte-level BPE and ALBERT's SentencePiece behind the one Tokenizer interface: ids, token types and
offsets identical to transformers' tokenizers (built by transformers from the same vocab files) on every text
of ../shared/data GLUE and SQuAD; vocab training; bad directories."""

import glob
import json
import os

import numpy as np
import pytest

from bert_jax.data.albert_spm import AlbertTokenizer
from bert_jax.data.byte_bpe import ByteLevelBPETokenizer
from bert_jax.data.tokenizer import load_tokenizer
from bert_jax.data.vocab_training import train_byte_level_bpe, train_sentencepiece
from tests.test_tokenizer import read_shared_sentences

HARD = ["Hello  World, it's 1,000 ``quoted'' Café.", "Naïve   spaces\tand\ttabs ", "東京 is big", "", " lead",
        "a <mask> here", "emoji 🙂 and ümlauts", "x" * 300]


@pytest.fixture(scope="module")
def vocabs(shared_data, tmp_path_factory):
    """A byte-level BPE vocab and an ALBERT spiece.model trained on four Gutenberg books (3,000 pieces each)."""
    books = sorted(glob.glob(os.path.join(shared_data, "text-corpus", "gutenberg", "*.txt")))[:4]
    root = tmp_path_factory.mktemp("family_vocabs")
    bpe = train_byte_level_bpe(books, 3000, str(root / "bpe"))
    albert = train_sentencepiece(books, 3000, str(root / "albert"), albert=True)
    return {"roberta": (bpe, str(root / "bpe")), "albert": (albert, str(root / "albert"))}


@pytest.fixture(scope="module")
def shared_text(shared_data):
    return read_shared_sentences(shared_data)


def _hf(torch_transformers, directory):
    _, transformers = torch_transformers
    return transformers.AutoTokenizer.from_pretrained(directory)


def _compare(ours, hf, texts, pairs=None):
    """Ids, token types and offsets of every example; returns the number compared."""
    mine = ours.encode_many(texts, pairs)
    theirs = hf(list(texts), list(pairs) if pairs is not None else None, return_offsets_mapping=True,
                return_token_type_ids=True)
    for i, encoding in enumerate(mine):
        where = (texts[i], pairs[i] if pairs is not None else None)
        assert encoding.input_ids == theirs["input_ids"][i], where
        assert encoding.token_type_ids == theirs["token_type_ids"][i], where
        assert encoding.offsets == [tuple(o) for o in theirs["offset_mapping"][i]], where
    return len(mine)


@pytest.mark.slow
@pytest.mark.parametrize("family", ["roberta", "albert"])
def test_ids_identical_to_transformers_on_all_shared_text(vocabs, shared_text, torch_transformers, family):
    """Every GLUE train/dev text and pair and every SQuAD question and context: ids, token types (RoBERTa: all
    0, <s> A </s></s> B </s>) and character offsets as transformers' tokenizer gives them."""
    ours, directory = vocabs[family]
    hf = _hf(torch_transformers, directory)
    singles, pairs = shared_text
    assert _compare(ours, hf, singles) > 113_000
    a, b = zip(*pairs, strict=True)
    assert _compare(ours, hf, list(a), list(b)) > 10_000


@pytest.mark.parametrize("family", ["roberta", "albert"])
def test_hard_cases_and_truncation_match_transformers(vocabs, torch_transformers, family):
    ours, directory = vocabs[family]
    hf = _hf(torch_transformers, directory)
    _compare(ours, hf, HARD)
    _compare(ours, hf, HARD, HARD[::-1])
    # Truncation is Google's _truncate_seq_pair (test_tokenizer.py), with the family's number of specials.
    long_a, long_b = "word " * 40, "other thing " * 25
    mine = ours.encode(long_a, long_b, max_length=32)
    specials = 4 if family == "roberta" else 3
    assert len(mine.input_ids) == 32 and sum(s is not None for s in mine.sequence_ids) == 32 - specials


def test_roberta_pair_format_and_specials(vocabs):
    tok = vocabs["roberta"][0]
    assert (tok.cls_id, tok.pad_id, tok.sep_id, tok.unk_id) == (0, 1, 2, 3) and tok.mask_id == tok.vocab_size - 1
    e = tok.encode("a b", "c")
    a, c = tok.split(["a b", "c"])
    assert e.input_ids == [0, *a.ids, 2, 2, *c.ids, 2] and set(e.token_type_ids) == {0}
    ids, types = tok.pair_row(a.ids, c.ids)
    assert ids == e.input_ids and types == e.token_type_ids


def test_words_arrive_with_a_prefix_space_for_tagging(vocabs, torch_transformers):
    """NER's pre-split words: RobertaTokenizerFast(add_prefix_space=True, is_split_into_words=True)."""
    tok, directory = vocabs["roberta"]
    _, transformers = torch_transformers
    hf = transformers.AutoTokenizer.from_pretrained(directory, add_prefix_space=True)
    words = ["EU", "rejects", "German", "call", "to", "boycott", "British", "lamb", "."]
    ours = [i for pieces in tok.for_words().split(words) for i in pieces.ids]
    assert [0, *ours, 2] == hf(words, is_split_into_words=True)["input_ids"]
    assert ours != [i for pieces in tok.split(words) for i in pieces.ids]  # without the space: other pieces


def test_byte_level_bpe_reads_tokenizer_json_and_round_trips(vocabs, tmp_path, torch_transformers):
    tok, directory = vocabs["roberta"]
    hf = _hf(torch_transformers, directory)
    hf.save_pretrained(str(tmp_path / "hf"))
    os.remove(tmp_path / "hf" / "vocab.json") if os.path.exists(tmp_path / "hf" / "vocab.json") else None
    from_json = load_tokenizer(str(tmp_path / "hf"))
    assert isinstance(from_json, ByteLevelBPETokenizer)
    assert [e.input_ids for e in from_json.encode_many(HARD)] == [e.input_ids for e in tok.encode_many(HARD)]
    tok.save(str(tmp_path / "ours"))
    again = load_tokenizer(str(tmp_path / "ours"))
    assert again.vocab == tok.vocab and again.merges == tok.merges
    assert tok.decode(tok.encode("Hello there, world.").input_ids) == "Hello there, world."


def test_albert_model_is_recognised_and_continuations_are_pieces_without_word_start(vocabs):
    tok, directory = vocabs["albert"]
    assert isinstance(load_tokenizer(directory), AlbertTokenizer)
    assert (tok.pad_token, tok.unk_token, tok.cls_token) == ("<pad>", "<unk>", "[CLS]")
    mask = tok.continuation_mask()
    starts = [i for i in range(tok.vocab_size) if tok.id_to_token(i).startswith("\u2581")]
    assert not mask[starts].any() and mask.sum() > 0 and not mask[list(tok.special_ids)].any()
    assert np.sum(~mask) == len(starts) + len(tok.special_ids) + np.sum(
        [not t.startswith("\u2581") and len(t) == 0 for t in map(tok.id_to_token, range(tok.vocab_size))])


def test_a_directory_missing_its_merges_or_spiece_is_a_clear_error(vocabs, tmp_path):
    _, bpe_dir = vocabs["roberta"]
    os.makedirs(tmp_path / "roberta")
    json.dump(json.load(open(os.path.join(bpe_dir, "vocab.json"))), open(tmp_path / "roberta" / "vocab.json", "w"))
    with pytest.raises(FileNotFoundError, match="BPE needs vocab.json and merges.txt; merges.txt is missing"):
        load_tokenizer(str(tmp_path / "roberta"))
    with pytest.raises(FileNotFoundError, match="ALBERT's tokenizer needs spiece.model"):
        AlbertTokenizer(str(tmp_path / "albert" / "spiece.model"))
    (tmp_path / "bad.json").write_text('{"model": {"type": "WordPiece"}}')
    with pytest.raises(ValueError, match="not a byte-level BPE tokenizer"):
        ByteLevelBPETokenizer.from_tokenizer_json(str(tmp_path / "bad.json"))
