"""Pretraining data: Google's pair and masking algorithm, checked by the properties it promises."""

import random
from unittest import mock

import numpy as np
import pytest

from bert_jax.data import pipeline
from bert_jax.data.packing import pack_lengths
from bert_jax.data.pretraining import (
    MaskOptions,
    PairOptions,
    create_pairs,
    mask_tokens,
    packed_features,
    pretraining_features,
)
from bert_jax.data.sources import read_documents, split_sentences

CLS, SEP, MASK, PAD, UNK = 2, 3, 4, 0, 1
SPECIAL = frozenset({PAD, UNK, CLS, SEP, MASK})
VOCAB = 1000


def _documents(n_docs=60, seed=0, unique=False):
    """Documents of sentences of ids; with ``unique`` every sentence's ids are distinct corpus-wide."""
    rng = np.random.default_rng(seed)
    next_id = 10
    docs = []
    for _ in range(n_docs):
        doc = []
        for _ in range(rng.integers(1, 12)):
            n = int(rng.integers(3, 25))
            if unique:
                doc.append(list(range(next_id, next_id + n)))
                next_id += n
            else:
                doc.append(rng.integers(10, VOCAB, n).tolist())
        docs.append(doc)
    return docs


def test_pairs_have_googles_layout_and_balanced_nsp():
    pairs = list(create_pairs(_documents(300), PairOptions(max_seq_length=64), CLS, SEP, seed=1))
    assert len(pairs) > 300
    for p in pairs:
        assert p.tokens[0] == CLS and p.tokens[-1] == SEP and p.tokens.count(SEP) == 2 and len(p.tokens) <= 64
        first_sep = p.tokens.index(SEP)
        assert 1 <= first_sep - 1 and len(p.tokens) - first_sep - 2 >= 1  # A and B non-empty
        assert p.segment_ids == [0] * (first_sep + 1) + [1] * (len(p.tokens) - first_sep - 1)
    random_next = np.mean([p.is_random_next for p in pairs])
    # 50% by coin, plus every one-segment chunk, which must take a random B.
    assert 0.45 < random_next < 0.65, random_next


def test_unused_segments_are_put_back():
    """With no truncation (long max length, no short targets), every sentence of every document ends up
    in a pair as part of A or of a true-continuation B: the segments a random B displaced are re-read."""
    docs = _documents(80, unique=True)
    pairs = list(create_pairs(docs, PairOptions(max_seq_length=512, short_seq_prob=0.0), CLS, SEP, seed=2))
    own_text = set()
    for p in pairs:
        sep = p.tokens.index(SEP)
        own_text.update(p.tokens[1:sep])
        if not p.is_random_next:
            own_text.update(p.tokens[sep + 1:-1])
    every_token = {t for d in docs for s in d for t in s}
    assert every_token - own_text == set()


def test_pairs_deterministic_for_a_seed():
    docs = _documents(50)
    a = [(p.tokens, p.is_random_next) for p in create_pairs(docs, PairOptions(), CLS, SEP, seed=3)]
    b = [(p.tokens, p.is_random_next) for p in create_pairs(docs, PairOptions(), CLS, SEP, seed=3)]
    c = [(p.tokens, p.is_random_next) for p in create_pairs(docs, PairOptions(), CLS, SEP, seed=4)]
    assert a == b and a != c


def test_masking_rates_and_specials():
    options = MaskOptions(masked_lm_prob=0.15, max_predictions_per_seq=80)
    rng = random.Random(0)
    masked_total = tokens_total = 0
    kinds = {"mask": 0, "same": 0, "random": 0}
    for _ in range(3000):
        body = [rng.randint(10, VOCAB - 1) for _ in range(rng.randint(10, 120))]
        tokens = [CLS, *body, SEP]
        out, positions, labels = mask_tokens(tokens, options, SPECIAL, MASK, VOCAB, None, rng)
        assert len(positions) == min(80, max(1, int(round(len(tokens) * 0.15))))  # Google's count
        assert positions == sorted(positions) and len(set(positions)) == len(positions)
        assert all(tokens[p] not in SPECIAL for p in positions)  # [CLS]/[SEP] never masked
        assert [tokens[p] for p in positions] == labels
        assert [i for i in range(len(tokens)) if out[i] != tokens[i]] == [p for p in positions if out[p] != tokens[p]]
        for p in positions:
            kinds["mask" if out[p] == MASK else "same" if out[p] == tokens[p] else "random"] += 1
        masked_total += len(positions)
        tokens_total += len(tokens)
    assert masked_total / tokens_total == pytest.approx(0.15, abs=0.005)
    n = sum(kinds.values())
    # 80/10/10; a random replacement equal to the original (1/1000) counts as "same".
    assert kinds["mask"] / n == pytest.approx(0.8, abs=0.01)
    assert kinds["same"] / n == pytest.approx(0.1, abs=0.01)
    assert kinds["random"] / n == pytest.approx(0.1, abs=0.01)


def test_max_predictions_cap():
    tokens = [CLS, *range(10, 510), SEP]
    _, positions, _ = mask_tokens(tokens, MaskOptions(max_predictions_per_seq=20), SPECIAL, MASK, VOCAB, None,
                                  random.Random(0))
    assert len(positions) == 20


def test_whole_word_masking_covers_every_piece():
    continuation = np.zeros(VOCAB, bool)
    continuation[500:] = True  # ids >= 500 are '##' pieces
    rng = random.Random(1)
    options = MaskOptions(masked_lm_prob=0.15, max_predictions_per_seq=40, whole_word_mask=True)
    for _ in range(500):
        body = []
        for _ in range(rng.randint(5, 40)):
            body += [rng.randint(10, 499)] + [rng.randint(500, VOCAB - 1) for _ in range(rng.randint(0, 3))]
        tokens = [CLS, *body, SEP]
        _, positions, _ = mask_tokens(tokens, options, SPECIAL, MASK, VOCAB, continuation, rng)
        masked = set(positions)
        words, current = [], []
        for i, t in enumerate(tokens):
            if t in SPECIAL:
                continue
            if continuation[t] and current:
                current.append(i)
            else:
                current = [i]
                words.append(current)
        for word in words:
            hit = masked & set(word)
            assert not hit or hit == set(word), (word, sorted(masked))


def test_features_layout():
    rng = random.Random(2)
    tokens = [CLS, 11, 12, 13, SEP, 14, 15, SEP]
    f = pretraining_features(tokens, [0, 0, 0, 0, 0, 1, 1, 1], True, 12, MaskOptions(max_predictions_per_seq=4),
                             SPECIAL, MASK, VOCAB, None, rng)
    assert f["input_ids"].shape == (12,) and f["masked_lm_positions"].shape == (4,)
    assert f["attention_mask"].tolist() == [1] * 8 + [0] * 4
    assert f["token_type_ids"].tolist() == [0] * 5 + [1] * 3 + [0] * 4
    assert f["masked_lm_weights"].tolist() == [1.0, 0.0, 0.0, 0.0]  # round(8 × 0.15) = 1 prediction
    assert int(f["next_sentence_label"]) == 1


def test_shards_round_trip_and_loader(tmp_path):
    pairs = list(create_pairs(_documents(40), PairOptions(max_seq_length=48), CLS, SEP, seed=5))
    n = pipeline.write_pair_shards(iter(pairs), str(tmp_path), "train", 48, rows_per_shard=37)
    source = pipeline.PairSource(str(tmp_path), "train")
    assert n == len(pairs) == len(source) and len(list(tmp_path.glob("train-*.tokens.npy"))) > 1
    for i in (0, 36, 37, n - 1):
        assert pipeline.instances(source[i]) == [(pairs[i].tokens, pairs[i].segment_ids, pairs[i].is_random_next)]

    def loader(batch=8, **kw):
        return pipeline.pretraining_batches(source, batch, 48, MaskOptions(max_predictions_per_seq=8), SPECIAL, MASK,
                                            VOCAB, None, seed=0, process_index=0, process_count=1, **kw)

    ds = loader()
    np.testing.assert_array_equal(ds[3]["input_ids"], loader()[3]["input_ids"])  # deterministic by index
    assert ds[0]["input_ids"].shape == (8, 48)
    # Unshuffled with batch 1, stream positions j and j + n hold the same example in consecutive epochs:
    # dynamic masking draws new masks there, static masking repeats them.
    dynamic, static = loader(1, shuffle=False), loader(1, shuffle=False, dynamic_masking=False)
    changed = [not np.array_equal(dynamic[j]["input_ids"], dynamic[j + n]["input_ids"]) for j in range(20)]
    assert sum(changed) >= 15
    for j in range(20):
        np.testing.assert_array_equal(static[j]["input_ids"], static[j + n]["input_ids"])
        np.testing.assert_array_equal(static[j]["masked_lm_ids"][static[j]["masked_lm_weights"] > 0],
                                      np.asarray(pairs[j].tokens)[static[j]["masked_lm_positions"][
                                          static[j]["masked_lm_weights"] > 0]])
    # Two hosts each take every other example: together they see every example exactly once.
    hosts = [pipeline.pretraining_batches(source, 4, 48, MaskOptions(), SPECIAL, MASK, VOCAB, None, seed=0,
                                          shuffle=False, repeat=False, dynamic_masking=False, process_index=i,
                                          process_count=2) for i in range(2)]
    seen = [tuple(r) for h in hosts for b in range(len(h)) for r in h[b]["input_ids"]]
    alone = pipeline.pretraining_batches(source, 1, 48, MaskOptions(), SPECIAL, MASK, VOCAB, None, seed=0,
                                         shuffle=False, repeat=False, dynamic_masking=False, process_index=0,
                                         process_count=1)
    assert sorted(seen) == sorted(tuple(alone[j]["input_ids"][0]) for j in range(n))


def test_sources(tmp_path):
    (tmp_path / "a.txt").write_text("First sentence.\nSecond one.\n\nOther document.\n")
    (tmp_path / "b.txt").write_text("Plain text. It has sentences! Does it? Yes.\n\nNew paragraph here.")
    assert list(read_documents("sentences", str(tmp_path / "a.txt"))) == [["First sentence.", "Second one."],
                                                                          ["Other document."]]
    assert list(read_documents("plain", str(tmp_path / "b.txt"))) == [
        ["Plain text.", "It has sentences!", "Does it?", "Yes.", "New paragraph here."]]
    assert split_sentences("It went. He said 3 things.\nThen  left.") == ["It went.", "He said 3 things.", "Then left."]
    with pytest.raises(FileNotFoundError, match="no corpus files match"):
        list(read_documents("sentences", str(tmp_path / "missing*.txt")))
    with pytest.raises(ValueError, match="corpus source 'wiki'"):
        read_documents("wiki")
    docs = list(read_documents("python_docstrings"))
    assert len(docs) > 100 and all(len(d) >= 2 for d in docs)
    # A preparation reads the corpus three times; the stdlib is parsed once per process, and what a caller
    # does to its documents does not reach the next reader.
    docs[0].append("a sentence of this caller's")
    with mock.patch("ast.parse", side_effect=AssertionError("parsed the stdlib again")):
        again = list(read_documents("python_docstrings"))
    assert again[0] == docs[0][:-1] and again[1:] == docs[1:]


def test_packing_rows_and_features(tmp_path):
    pairs = list(create_pairs(_documents(80), PairOptions(max_seq_length=40, short_seq_prob=0.5), CLS, SEP, seed=6))
    rows = [[pairs[i] for i in row] for row in pack_lengths([len(p.tokens) for p in pairs], 64, 3, open_rows=1)]
    assert [p for row in rows for p in row] == pairs  # every pair once, in order
    # Next-fit: a row closes only when it is full or the next pair does not fit in it.
    assert all(len(row) == 3 or sum(len(p.tokens) for p in row) + len(following[0].tokens) > 64
               for row, following in zip(rows, rows[1:], strict=False))
    assert all(sum(len(p.tokens) for p in row) <= 64 and 1 <= len(row) <= 3 for row in rows)
    assert len(rows) < 0.9 * len(pairs)  # short pairs really share rows

    n = pipeline.write_pair_shards(iter(pairs), str(tmp_path), "train", 64, max_per_row=3)
    source = pipeline.PairSource(str(tmp_path), "train")
    assert n == len(pairs) and len(source) == len(rows) and source.max_per_row == 3
    assert [inst for i in range(len(source)) for inst in pipeline.instances(source[i])] == [
        (p.tokens, p.segment_ids, p.is_random_next) for p in pairs]

    options = MaskOptions(max_predictions_per_seq=12)
    for i in range(len(source)):
        instances = pipeline.instances(source[i])
        f = packed_features(instances, 64, 3, options, SPECIAL, MASK, VOCAB, None, random.Random(i))
        start = 0
        for k, (tokens, types, is_random_next) in enumerate(instances):
            end = start + len(tokens)
            assert f["cls_positions"][k] == start and f["input_ids"][start] == CLS
            assert f["segment_ids"][start:end].tolist() == [k + 1] * len(tokens)
            assert f["position_ids"][start:end].tolist() == list(range(len(tokens)))
            assert f["token_type_ids"][start:end].tolist() == types
            assert f["next_sentence_label"][k] == is_random_next and f["next_sentence_weights"][k] == 1
            start = end
        assert f["segment_ids"][start:].sum() == 0 and f["attention_mask"].sum() == start
        assert f["next_sentence_weights"][len(instances):].sum() == 0
        real = f["masked_lm_weights"] > 0
        positions = f["masked_lm_positions"][real]
        original = np.concatenate([np.asarray(t) for t, _, _ in instances])
        assert all(original[p] not in SPECIAL for p in positions)
        np.testing.assert_array_equal(f["masked_lm_ids"][real], original[positions])


def test_tfds_corpus_through_the_real_loader():
    """tfds.load of the real wikipedia builder, with TFDS's mock_data generating its examples offline."""
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=7):
        docs = list(read_documents("tfds", "wikipedia/20230601.en", split="train"))
        assert len(docs) == 7 and all(d and all(isinstance(s, str) and s for s in d) for d in docs)
        with pytest.raises(KeyError, match="no 'body' field"):
            list(read_documents("tfds", "wikipedia/20230601.en", split="train", text_key="body"))
