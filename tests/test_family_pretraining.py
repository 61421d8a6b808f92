"""The family's pretraining data and recipes: ALBERT's sentence-order pairs and n-gram masking, RoBERTa's
FULL-SENTENCES rows (each checked against what the paper's rule implies for hand-made documents whose token
ids say where they came from), and the two recipe configs end to end through the CLI."""

import collections
import json
import random

import pytest

from bert_jax.data.pretraining import (
    MaskOptions,
    PairOptions,
    _ngram_choices,
    create_pairs,
    full_sentence_rows,
    mask_tokens,
)
from tests.test_finetune import cli

CLS, SEP = 1, 2


def _documents(n_docs=40, sentences=6, length=7):
    """Document d, sentence s, token t has id 1000·d + 10·s + t + 10: order and origin readable from the id."""
    return [[[1000 * d + 10 * s + t + 10 for t in range(length)] for s in range(sentences)] for d in range(n_docs)]


def test_sentence_order_pairs_are_in_order_or_swapped_halves_of_one_document():
    """SOP (ALBERT): label 0 → A then B, consecutive text of one document; label 1 → the same two halves
    swapped (or, for a one-segment chunk, another document's text, as ALBERT's code does). About half swapped."""
    pairs = list(create_pairs(_documents(), PairOptions(max_seq_length=40, sentence_task="sop"), CLS, SEP, seed=0))
    kinds = collections.Counter()
    for pair in pairs:
        first_sep = pair.tokens.index(SEP)
        a, b = pair.tokens[1:first_sep], pair.tokens[first_sep + 1:-1]
        same_doc = {t // 1000 for t in a} == {t // 1000 for t in b}
        if not pair.is_random_next:
            assert same_doc and max(a) < min(b), pair.tokens
            kinds["in order"] += 1
        elif same_doc:
            assert min(a) > max(b), pair.tokens
            kinds["swapped"] += 1
        else:
            kinds["other document"] += 1
    assert kinds["other document"] < 0.05 * len(pairs)
    assert 0.4 < kinds["swapped"] / (kinds["swapped"] + kinds["in order"]) < 0.6, kinds


def test_full_sentence_rows_read_every_sentence_in_order_across_documents():
    """RoBERTa's FULL-SENTENCES: <s> ... </s> rows of up to max_seq_length read the documents' sentences in
    order, an extra </s> between documents, and a row closes only when the next sentence would not fit;
    create_pairs gives the same rows (shuffled) for each of dupe_factor document orders."""
    docs = _documents(n_docs=12, sentences=5, length=4)
    docs[3][2] = list(range(5000, 5075))  # one sentence longer than a row: cut across rows
    options = PairOptions(max_seq_length=32, sentence_task="none")
    rows = full_sentence_rows(docs, options, CLS, SEP)
    assert all(r.tokens[0] == CLS and r.tokens[-1] == SEP and len(r.tokens) <= 32 for r in rows)
    assert all(set(r.segment_ids) == {0} and not r.is_random_next for r in rows)
    items = [s for d, doc in enumerate(docs) for s in doc + ([[SEP]] if d < len(docs) - 1 else [])]
    assert [t for r in rows for t in r.tokens[1:-1]] == [t for s in items for t in s]
    budget = 30
    starts = [s[0] for s in items]
    for r, following in zip(rows, rows[1:], strict=False):
        nxt = following.tokens[1]
        if nxt in starts and r.tokens[-2] != 5000 + 74:  # the next row begins a sentence: it did not fit
            length = len(items[starts.index(nxt)])
            assert len(r.tokens) - 2 + length > budget or length > budget, (r.tokens, nxt)
    shuffled = list(create_pairs(docs, PairOptions(32, dupe_factor=2, sentence_task="none"), CLS, SEP, seed=0))
    inner = collections.Counter(t for p in shuffled for t in p.tokens[1:-1])
    assert inner == collections.Counter({t: 2 * n for t, n in collections.Counter(
        t for r in rows for t in r.tokens[1:-1]).items()})


def test_ngram_lengths_follow_one_over_n():
    """ALBERT's n-gram masking draws n with p(n) ∝ 1/n: 6/11, 3/11, 2/11 for n ≤ 3 (starts far from the end)."""
    rng = random.Random(0)
    words = [[i] for i in range(200)]
    counts = collections.Counter()
    for _ in range(50):
        for spans in _ngram_choices(words, 3, rng):
            if spans[0][0] < 190:
                counts[len(spans)] += 1
    total = sum(counts.values())
    for n, expected in ((1, 6 / 11), (2, 3 / 11), (3, 2 / 11)):
        assert abs(counts[n] / total - expected) < 0.01, (n, counts[n] / total)


def test_ngram_masking_masks_contiguous_words_within_budget():
    rng = random.Random(0)
    tokens = [CLS, *range(10, 110), SEP]
    runs = collections.Counter()
    for _ in range(200):
        _, positions, labels = mask_tokens(tokens, MaskOptions(0.15, 20, max_ngram=3), frozenset({CLS, SEP}), 3,
                                           200, None, rng)
        assert len(positions) <= 15 and [tokens[p] for p in positions] == labels
        run = 1
        for p, q in zip(positions, positions[1:], strict=False):
            if q == p + 1:
                run += 1
            else:
                runs[run] += 1
                run = 1
        runs[run] += 1
    assert runs[1] < sum(runs.values()) and max(runs) >= 3  # spans, not only single tokens


@pytest.mark.parametrize("config,objective", [("pretrain_roberta.py:runlocal", None),
                                              ("pretrain_albert.py:runlocal", "sop")])
def test_recipe_configs_run_end_to_end(tmp_path, config, objective):
    workdir = tmp_path / "run"
    cli(config, workdir)
    results = json.loads((workdir / "eval_results.json").read_text())
    assert results["mlm_accuracy"] > 0 and results["masked_tokens"] > 0
    assert ("sop_accuracy" in results) == (objective == "sop") and "nsp_accuracy" not in results
    model = json.loads((workdir / "model" / "config.json").read_text())
    assert model["model_type"] == ("albert" if objective else "roberta")
