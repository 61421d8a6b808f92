"""Pretraining data, prepared once per data directory (default ``<workdir>/data``): read the corpus, train a
vocab if none is given (``data.vocab_type``: WordPiece, RoBERTa's byte-level BPE or ALBERT's SentencePiece),
tokenize, build the instances of ``data.sentence_task`` (Google's NSP pairs, ALBERT's sentence-order pairs or
RoBERTa's FULL-SENTENCES rows) for train and held-out documents, write shards (data/pipeline.py), then
``meta.json``. A directory whose meta.json matches the settings is reused; one with other settings is refused.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os

import jax

from bert_jax import distributed
from bert_jax.data import pipeline, sources
from bert_jax.data.pretraining import PairOptions, create_pairs
from bert_jax.data.tokenizer import load_tokenizer, tokenizer_file
from bert_jax.data.vocab_training import train_byte_level_bpe, train_sentencepiece, train_wordpiece
from bert_jax.io_utils import atomic_path

log = logging.getLogger(__name__)

# The config.data keys (with the seed) that decide the prepared data: a directory made with others is refused.
DATA_KEYS = ("source", "paths", "tfds_split", "text_key", "vocab", "vocab_size", "lowercase", "max_seq_length",
             "short_seq_prob", "dupe_factor", "eval_document_stride", "documents_per_block", "pack_per_row",
             "sentence_task", "vocab_type")
# Keys added after data directories were first written: a meta.json without one was made with this value.
_ADDED_KEYS = {"sentence_task": "nsp", "vocab_type": "wordpiece"}
VOCAB_TYPES = ("wordpiece", "byte_bpe", "albert_sentencepiece")


def corpus_paths(data) -> list[str]:
    return [p for p in str(data.paths).split(",") if p] if data.paths else []


def vocab_path(data, data_dir: str) -> str:
    """config.data.vocab, else the vocab trained into the data directory."""
    return data.vocab or os.path.join(data_dir, "vocab")


def settings_of(data, seed: int) -> dict:
    return {k: data[k] for k in DATA_KEYS} | {"seed": seed}


def train_vocab(corpus_file: str, data, out_dir: str, seed: int) -> None:
    """The vocab of ``data.vocab_type`` trained on the corpus (lowercasing as data.lowercase; byte-level BPE
    is cased, as RoBERTa's)."""
    if data.vocab_type not in VOCAB_TYPES:
        raise ValueError(f"config.data.vocab_type={data.vocab_type!r}; expected one of {VOCAB_TYPES}")
    if data.vocab_type == "byte_bpe":
        train_byte_level_bpe(corpus_file, data.vocab_size, out_dir)
    elif data.vocab_type == "albert_sentencepiece":
        train_sentencepiece(corpus_file, data.vocab_size, out_dir, lowercase=data.lowercase, seed=seed, albert=True)
    else:
        train_wordpiece(corpus_file, data.vocab_size, out_dir, lowercase=data.lowercase)


def prepare(data_dir: str, data, seed: int) -> None:
    """Process 0 prepares while the others wait at a barrier. A host that still finds no data after the
    barrier (a data directory on host-local disk, not a shared filesystem) prepares its own copy with
    process 0's vocab: the rest of the preparation is a function of the config and the vocab. The vocab
    training is deterministic too (vocab_training.train_wordpiece), but hosts with different `tokenizers`
    versions could still train different vocabs and feed one model different token ids; a copy cannot."""
    shared_vocab = f"bert_jax: trained vocab of {data_dir}"  # the config's path: the same on every host
    if jax.process_index() == 0:
        _prepare_here(data_dir, data, seed)
        if jax.process_count() > 1 and not data.vocab:
            distributed.publish_directory(shared_vocab, vocab_path(data, data_dir))
    if jax.process_count() > 1:
        distributed.wait_for_all(f"bert_jax: pretraining data prepared in {data_dir}")
        if jax.process_index() != 0:
            fetch = not data.vocab and pipeline.read_meta(data_dir) is None
            if fetch:
                distributed.fetch_directory(shared_vocab, vocab_path(data, data_dir))
            _prepare_here(data_dir, data, seed, vocab_fetched=fetch)


def _prepare_here(data_dir: str, data, seed: int, vocab_fetched: bool = False) -> None:
    settings = settings_of(data, seed)
    meta = pipeline.read_meta(data_dir)
    if meta is not None:
        if {**_ADDED_KEYS, **meta["settings"]} != settings:
            raise ValueError(f"{data_dir} holds data made with other settings {meta['settings']}; "
                             f"this run asks for {settings}. Use another config.data.dir or the same settings.")
        return
    paths = corpus_paths(data)
    if data.source != "python_docstrings" and not paths:
        raise ValueError(f"config.data.paths is empty; corpus source {data.source!r} needs files")
    os.makedirs(data_dir, exist_ok=True)
    tfds_options = {"split": data.tfds_split, "data_dir": data.tfds_data_dir, "text_key": data.text_key}

    def documents():  # re-read per pass: the corpus is streamed, never held in memory
        return sources.read_documents(data.source, paths, **(tfds_options if data.source == "tfds" else {}))

    if not data.vocab and not vocab_fetched:
        corpus_file = os.path.join(data_dir, "corpus.txt")
        with atomic_path(corpus_file) as tmp, open(tmp, "w", encoding="utf-8") as f:
            for doc in documents():
                f.write("\n".join(doc) + "\n\n")
        if os.path.getsize(corpus_file) == 0:
            raise ValueError(f"the corpus ({data.source}: {paths or 'stdlib docstrings'}) has no documents")
        train_vocab(corpus_file, data, vocab_path(data, data_dir), seed)
    tokenizer = load_tokenizer(vocab_path(data, data_dir), lowercase=data.lowercase)
    stride = data.eval_document_stride
    options = PairOptions(data.max_seq_length, data.short_seq_prob, data.dupe_factor, data.sentence_task)
    counts, n_documents = {}, {}

    def split_documents(held_out: bool, split: str):
        n_documents[split] = 0
        for i, doc in enumerate(documents()):
            if (i % stride == stride - 1) == held_out:
                n_documents[split] += 1
                yield doc

    for offset, split in enumerate(("train", "eval")):
        tokenized = ([p.ids for p in tokenizer.split(doc)] for doc in split_documents(split == "eval", split))
        pairs = create_pairs(tokenized, options, tokenizer.cls_id, tokenizer.sep_id,
                             seed=seed + offset, documents_per_block=data.documents_per_block)
        counts[split] = pipeline.write_pair_shards(pairs, data_dir, split, data.max_seq_length,
                                                   max_per_row=data.pack_per_row)
        if counts[split] == 0:
            if split == "train" and n_documents["train"] == 0:
                raise ValueError(f"the corpus ({data.source}: {paths or 'stdlib docstrings'}) has no documents")
            raise ValueError(f"the corpus gave no '{split}' pairs ({n_documents[split]} documents); "
                             "it is too small")
    vocab_hash = hashlib.sha256(open(tokenizer_file(vocab_path(data, data_dir)), "rb").read()).hexdigest()
    pipeline.write_meta(data_dir, {"settings": settings, "pairs": counts, "documents": n_documents,
                                        "vocab_sha256": vocab_hash})
    log.info("prepared %s: %s pairs from %s documents", data_dir, json.dumps(counts),
             json.dumps(n_documents))
