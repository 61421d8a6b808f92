"""SWAG's data, one reader per source: the released CSV files in ``data.dir`` (train.csv, val.csv,
test.csv) or Hugging Face datasets (allenai/swag config regular, or a local copy in its parquet layout; the
hub's test labels are -1). TFDS has no SWAG builder. ``read_split`` picks the reader from
``config.data.source``.
"""

from __future__ import annotations

import os

from bert_jax.data import hf_datasets
from bert_jax.data.readers import SWAG_CHOICES, SwagExample, read_swag_csv

FILES = {"train": "train.csv", "dev": "val.csv", "test": "test.csv"}
HF_SPLITS = {"train": "train", "dev": "validation", "test": "test"}


def read_swag_hf(split: str, dataset: str, config: str | None) -> list[SwagExample]:
    """A split of Hugging Face allenai/swag (regular): sent1, sent2, ending0..3, label (-1 when unlabelled);
    the example id is the row number, which the released CSV's unnamed first column holds."""
    ds = hf_datasets.load_split(dataset, config or "regular", split)
    return [SwagExample(str(i), row["sent1"], row["sent2"], [row[f"ending{k}"] for k in range(SWAG_CHOICES)],
                        None if int(row["label"]) < 0 else int(row["label"])) for i, row in enumerate(ds)]


def describe(split: str, data) -> str:
    """Where a split comes from, for error messages."""
    if data.source == "hf":
        return f"{data.dataset} {data.get('dataset_config') or 'regular'}/{HF_SPLITS[split]}"
    return os.path.join(data.dir, FILES[split])


def has_split(split: str, data) -> bool:
    if data.source == "hf":
        return hf_datasets.has_split(data.dataset, data.get("dataset_config") or "regular", HF_SPLITS[split])
    return os.path.exists(os.path.join(data.dir, FILES[split]))


def check_source(data) -> None:
    """The source's settings, before any file is read."""
    if data.source == "files":
        if not data.dir:
            raise ValueError("config.data.dir is empty; give the folder with SWAG's train.csv and val.csv")
    elif data.source != "hf":
        raise ValueError(f"config.data.source={data.source!r}: SWAG reads its released CSV files ('files') or "
                         "Hugging Face datasets ('hf'); TFDS has no SWAG builder")


def read_split(split: str, data) -> list[SwagExample]:
    """One split ('train', 'dev', 'test') from ``data.source``: 'files' or 'hf'."""
    check_source(data)
    if data.source == "hf":
        return read_swag_hf(HF_SPLITS[split], data.dataset, data.get("dataset_config"))
    return read_swag_csv(os.path.join(data.dir, FILES[split]))
