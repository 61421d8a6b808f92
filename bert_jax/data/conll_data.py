"""CoNLL-2003's data, one reader per source: the released column files (train.txt / valid.txt / test.txt in
``data.dir``; tag scheme 'bio', or 'iob1' for the original eng.* files: ``task.tag_scheme``), TFDS ``conll2003``, or
Hugging Face datasets (eriktks/conll2003, or a local copy in its parquet layout). ``read_split`` picks the
reader from ``config.data.source``; tags come back as BIO strings.
"""

from __future__ import annotations

import os

from bert_jax.data import hf_datasets
from bert_jax.data.readers import CONLL_TAGS, ConllSentence, iob1_to_bio, read_conll

FILES = {"train": "train.txt", "dev": "valid.txt", "test": "test.txt"}
TFDS_SPLITS = {"train": "train", "dev": "dev", "test": "test"}
HF_SPLITS = {"train": "train", "dev": "validation", "test": "test"}


def read_conll_tfds(split: str, data_dir: str | None) -> list[ConllSentence]:
    import tensorflow_datasets as tfds

    out = []
    for i, example in enumerate(tfds.as_numpy(tfds.load("conll2003", split=split, data_dir=data_dir or None))):
        words = [w.decode("utf-8") for w in example["tokens"]]
        tags = [CONLL_TAGS[t] for t in example["ner"]]
        # TFDS keeps no document boundaries: each sentence is its own document (no context).
        out.append(ConllSentence(words, tags, [[w, t] for w, t in zip(words, tags, strict=True)], i, i + 1))
    return out


def read_conll_hf(split: str, dataset: str, config: str | None) -> list[ConllSentence]:
    """A split of Hugging Face eriktks/conll2003 (hub or local copy): tokens and the integer tags with their
    ClassLabel names; no document boundaries, as in TFDS."""
    ds = hf_datasets.load_split(dataset, config or "conll2003", split)
    columns = [c for c in ("pos_tags", "chunk_tags") if c in ds.column_names]
    names = {c: hf_datasets.label_names(ds, c) for c in (*columns, "ner_tags")}
    if names["ner_tags"] is None or set(names["ner_tags"]) != set(CONLL_TAGS):
        raise ValueError(f"{dataset}: ner_tags names {names['ner_tags']}; expected CoNLL-2003's {list(CONLL_TAGS)}")
    out = []
    for i, row in enumerate(ds):
        words = list(row["tokens"])
        tags = [names["ner_tags"][t] for t in row["ner_tags"]]
        other = [[names[c][t] if names[c] else str(t) for t in row[c]] for c in columns]
        lines = [[w, *(o[k] for o in other), tag] for k, (w, tag) in enumerate(zip(words, tags, strict=True))]
        out.append(ConllSentence(words, tags, lines, i, i + 1))
    return out


def has_split(split: str, data) -> bool:
    """Whether ``data.source`` holds ``split`` (the test split is optional in a local folder or copy)."""
    if data.source == "files":
        return os.path.exists(os.path.join(data.dir, FILES[split]))
    if data.source == "hf":
        return hf_datasets.has_split(data.dataset, data.get("dataset_config") or "conll2003", HF_SPLITS[split])
    return True


def read_split(split: str, data, tag_scheme: str = "bio") -> list[ConllSentence]:
    """One split ('train', 'dev', 'test') from ``data.source``: 'files', 'tfds' or 'hf'; ``tag_scheme`` is
    the tags' scheme in the source ('iob1' tags are converted to BIO)."""
    if tag_scheme not in ("bio", "iob1"):
        raise ValueError(f"config.task.tag_scheme={tag_scheme!r}; expected 'bio' or 'iob1'")
    if data.source == "tfds":
        out = read_conll_tfds(TFDS_SPLITS[split], data.tfds_data_dir)
    elif data.source == "hf":
        out = read_conll_hf(HF_SPLITS[split], data.dataset, data.get("dataset_config"))
    elif data.source == "files":
        if not data.dir:
            raise ValueError("config.data.dir is empty; give the folder with train.txt and valid.txt")
        out = read_conll(os.path.join(data.dir, FILES[split]))
    else:
        raise ValueError(f"config.data.source={data.source!r}; expected 'files', 'tfds' or 'hf'")
    if tag_scheme == "iob1":
        for s in out:
            s.tags = iob1_to_bio(s.tags)
    return out
