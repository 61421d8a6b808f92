"""Tokenizer encode throughput (sentences/s) of bert_jax's WordPiece beside HF BertTokenizerFast.

Both tokenize the same sentences from the same vocab.txt to int arrays with truncation and padding, in
one process; the median of ``--repeats`` timed passes after one warm-up pass is reported, and the ids
are checked to be identical so the two do the same work.
"""

from __future__ import annotations

import argparse
import csv
import os
import tempfile

import numpy as np

from bert_jax.bench.timing import median_seconds
from bert_jax.data.tokenizer import WordPieceTokenizer

DEFAULT_DATA = os.path.join("..", "shared", "data", "glue", "SST-2", "train.tsv")
DEFAULT_VOCAB = os.path.join("..", "shared", "data", "bert-vocab", "uncased_L-12_H-768_A-12", "vocab.txt")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", default=DEFAULT_DATA, help="GLUE-style TSV with a header; column --column")
    parser.add_argument("--column", type=int, default=0)
    parser.add_argument("--vocab", default=DEFAULT_VOCAB)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)


def _read_sentences(path: str, column: int) -> list[str]:
    if not os.path.exists(path):
        raise SystemExit(f"--data {path} does not exist")
    with open(path, encoding="utf-8-sig") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
    return [row[column] for row in rows]


def run(args) -> int:
    sentences = _read_sentences(args.data, args.column)
    ours = WordPieceTokenizer(args.vocab)
    n, L = len(sentences), args.max_length
    print(f"{n} sentences from {args.data}, max_length={L}, vocab {args.vocab}")
    batch = lambda: ours.encode_batch(sentences, max_length=L)  # noqa: E731
    single = lambda: [ours.encode(s, max_length=L) for s in sentences[:5000]]  # noqa: E731
    rows = [("bert_jax batch", n / median_seconds(batch, args.repeats)),
            ("bert_jax one at a time", 5000 / median_seconds(single, args.repeats))]
    try:
        import transformers
    except ImportError:
        print("transformers is not installed: no peer to compare with")
        transformers = None
    if transformers is not None:
        with tempfile.TemporaryDirectory() as d:
            with open(args.vocab, "rb") as src, open(os.path.join(d, "vocab.txt"), "wb") as dst:
                dst.write(src.read())
            hf = transformers.BertTokenizerFast.from_pretrained(d, do_lower_case=True)
        hf_batch = lambda: hf(sentences, max_length=L, truncation=True, padding="longest", return_tensors="np")  # noqa
        hf_single = lambda: [hf(s, max_length=L, truncation=True) for s in sentences[:5000]]  # noqa: E731
        same = np.array_equal(batch()["input_ids"], hf_batch()["input_ids"])
        print(f"ids identical to BertTokenizerFast: {same}")
        rows += [("HF BertTokenizerFast batch", n / median_seconds(hf_batch, args.repeats)),
                 ("HF BertTokenizerFast one at a time", 5000 / median_seconds(hf_single, args.repeats))]
    print(f"{'':38s} sentences/s")
    for name, rate in rows:
        print(f"{name:38s} {rate:12,.0f}")
    if transformers is not None:
        print(f"ratio ours/HF: batch {rows[0][1] / rows[2][1]:.2f}x, one at a time {rows[1][1] / rows[3][1]:.2f}x")
    return 0
