"""SQuAD's data, one reader per source: the JSON files in ``data.dir`` (``data.train_file`` /
``data.dev_file``), TFDS ``squad/<version>``, or Hugging Face datasets (rajpurkar/squad config plain_text,
rajpurkar/squad_v2 config squad_v2, or a local copy in their parquet layout). ``read_split`` picks the
reader from ``config.data.source``; ``articles`` slices the articles (titles in order of appearance).
"""

from __future__ import annotations

import os

from bert_jax.data import hf_datasets
from bert_jax.data.readers import SquadExample, read_squad_json

TFDS_SPLITS = {"train": "train", "dev": "validation"}  # the hub's names too
HF_CONFIGS = {"v1.1": "plain_text", "v2.0": "squad_v2"}


def read_squad_tfds(version: str, split: str, data_dir: str | None, articles: slice) -> list[SquadExample]:
    """TFDS ``squad/<version>``: one record per question; articles are the titles in order of appearance."""
    import tensorflow_datasets as tfds

    examples = []
    for record in tfds.as_numpy(tfds.load(f"squad/{version}", split=split, data_dir=data_dir or None)):
        answers = record["answers"]
        texts = [t.decode("utf-8") for t in answers["text"]]
        starts = [int(s) for s in answers["answer_start"]]
        # v2.0 records say is_impossible; without the field, a v2.0 question with no answers is unanswerable.
        impossible = bool(record["is_impossible"]) if "is_impossible" in record else version == "v2.0" and not texts
        examples.append(SquadExample(record["id"].decode("utf-8"), record["question"].decode("utf-8"),
                                     record["context"].decode("utf-8"), list(zip(texts, starts, strict=True)),
                                     impossible, record["title"].decode("utf-8")))
    return _by_article(examples, articles)


def _by_article(examples: list[SquadExample], articles: slice) -> list[SquadExample]:
    """The examples of the articles in ``articles`` (titles in order of appearance)."""
    by_title: dict[str, list[SquadExample]] = {}
    for example in examples:
        by_title.setdefault(example.title, []).append(example)
    return [e for t in list(by_title)[articles] for e in by_title[t]]


def read_squad_hf(version: str, split: str, dataset: str, config: str | None, articles: slice) -> list[SquadExample]:
    """Hugging Face rajpurkar/squad or squad_v2 (hub or local copy): one row per question with the
    ``answers`` struct {text: [...], answer_start: [...]}; a v2.0 question without answers is unanswerable.
    Questions of one paragraph share its context string, as the JSON reader gives them."""
    ds = hf_datasets.load_split(dataset, config or HF_CONFIGS[version], split)
    contexts: dict[str, str] = {}
    examples = []
    for row in ds:
        answers = row["answers"]
        texts, starts = list(answers["text"]), [int(s) for s in answers["answer_start"]]
        context = contexts.setdefault(row["context"], row["context"])
        examples.append(SquadExample(str(row["id"]), row["question"], context, list(zip(texts, starts, strict=True)),
                                     version == "v2.0" and not texts, row.get("title", "")))
    return _by_article(examples, articles)


def file_path(split: str, data) -> str:
    name = data.train_file if split == "train" else data.dev_file
    if not data.dir and not os.path.isabs(name):
        raise ValueError(f"config.data.dir is empty; give the folder with {name} (or an absolute file path)")
    return os.path.join(data.dir, name)


def describe(split: str, version: str, data) -> str:
    """Where a split comes from, for error messages."""
    if data.source == "files":
        return file_path(split, data)
    if data.source == "hf":
        return f"{data.dataset} {data.get('dataset_config') or HF_CONFIGS[version]}/{TFDS_SPLITS[split]}"
    return f"TFDS squad/{version}"


def read_split(split: str, version: str, data, articles: slice) -> list[SquadExample]:
    """One split ('train' or 'dev') of SQuAD ``version`` from ``data.source``: 'files', 'tfds' or 'hf'."""
    if data.source == "tfds":
        return read_squad_tfds(version, TFDS_SPLITS[split], data.tfds_data_dir, articles)
    if data.source == "hf":
        return read_squad_hf(version, TFDS_SPLITS[split], data.dataset, data.get("dataset_config"), articles)
    if data.source == "files":
        return read_squad_json(file_path(split, data), articles)
    raise ValueError(f"config.data.source={data.source!r}; expected 'files', 'tfds' or 'hf'")
