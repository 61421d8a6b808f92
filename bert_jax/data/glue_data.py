"""GLUE's data: the subtasks' layout table (folders, columns, labels, splits) and one reader per source:
a local glue_data folder (the released TSV files), TFDS ``glue/<name>``, or Hugging Face ``datasets``
(the hub's nyu-mll/glue, or a local directory in its layout: ``<dir>/<config>/<split>-*.parquet``).
``read_split`` picks the reader from ``config.data.source``.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from bert_jax.data import hf_datasets
from bert_jax.data.readers import DataError, read_tsv


@dataclasses.dataclass(frozen=True)
class Subtask:
    folder: str  # in glue_data, and the submission file's stem
    text_columns: tuple  # TSV header names (CoLA: column numbers, its train/dev have no header)
    label_column: str | int | None
    labels: tuple[str, ...] | None  # label strings in TFDS's index order; None = regression
    metrics: tuple[str, ...]
    tfds_features: tuple[str, ...]
    dev: tuple[str, ...] = ("dev",)  # split names; file = <split>.tsv
    test: tuple[tuple[str, str], ...] = (("test", "test.tsv"),)  # (split, file)
    submission: tuple[str, ...] = ()  # file names per test split; default <folder>.tsv
    index_column: str = "index"
    header: bool = True


_BINARY = ("0", "1")
_NLI3 = ("entailment", "neutral", "contradiction")
_NLI2 = ("entailment", "not_entailment")
SUBTASKS: dict[str, Subtask] = {
    "cola": Subtask("CoLA", (3,), 1, _BINARY, ("matthews_correlation",), ("sentence",), header=False),
    "sst2": Subtask("SST-2", ("sentence",), "label", _BINARY, ("accuracy",), ("sentence",)),
    "mrpc": Subtask("MRPC", ("#1 String", "#2 String"), "Quality", _BINARY, ("f1", "accuracy"),
                    ("sentence1", "sentence2")),
    "stsb": Subtask("STS-B", ("sentence1", "sentence2"), "score", None, ("pearson", "spearmanr"),
                    ("sentence1", "sentence2")),
    "qqp": Subtask("QQP", ("question1", "question2"), "is_duplicate", _BINARY, ("f1", "accuracy"),
                   ("question1", "question2"), index_column="id"),
    "mnli": Subtask("MNLI", ("sentence1", "sentence2"), "gold_label", _NLI3, ("accuracy",), ("premise", "hypothesis"),
                    dev=("dev_matched", "dev_mismatched"),
                    test=(("test_matched", "test_matched.tsv"), ("test_mismatched", "test_mismatched.tsv"),
                          ("ax", "../diagnostic/diagnostic.tsv")),
                    submission=("MNLI-m.tsv", "MNLI-mm.tsv", "AX.tsv")),
    "qnli": Subtask("QNLI", ("question", "sentence"), "label", _NLI2, ("accuracy",), ("question", "sentence")),
    "rte": Subtask("RTE", ("sentence1", "sentence2"), "label", _NLI2, ("accuracy",), ("sentence1", "sentence2")),
    "wnli": Subtask("WNLI", ("sentence1", "sentence2"), "label", _BINARY, ("accuracy",), ("sentence1", "sentence2")),
}
ALIASES = {"sst-2": "sst2", "sts-b": "stsb"}
TFDS_SPLITS = {"dev": "validation", "dev_matched": "validation_matched", "dev_mismatched": "validation_mismatched",
               "test": "test", "test_matched": "test_matched", "test_mismatched": "test_mismatched", "train": "train"}


def subtask_name(name: str) -> str:
    key = ALIASES.get(name.lower(), name.lower())
    if key not in SUBTASKS:
        raise ValueError(f"config.task.subtask={name!r}; expected one of {sorted(SUBTASKS)}")
    return key


@dataclasses.dataclass
class Examples:
    texts: list[tuple[str, ...]]
    labels: np.ndarray  # int32 class ids or float32 scores; -1 / nan when unlabelled (test)
    index: list[str]  # the file's example ids (submission index)


def read_glue_tsv(path: str, sub: Subtask, labelled: bool, skip_malformed: bool = False) -> Examples:
    """One split of a glue_data folder; CoLA's headerless train/dev read by column number."""
    table = read_tsv(path, has_header=sub.header or not labelled, skip_malformed=skip_malformed)
    text_columns = sub.text_columns if (sub.header or labelled) else ("sentence",)
    columns = [table.column(c) for c in text_columns]
    label_column = table.column(sub.label_column) if labelled else None
    index_column = (table.column(sub.index_column) if table.header and sub.index_column in table.header
                    else None)
    texts, labels, index = [], [], []
    for row, line in zip(table.rows, table.line_numbers, strict=True):
        texts.append(tuple(row[c] for c in columns))
        index.append(row[index_column] if index_column is not None else str(len(index)))
        if label_column is None:
            labels.append(-1 if sub.labels else np.nan)
            continue
        value = row[label_column]
        if sub.labels is None:
            try:
                labels.append(float(value))
            except ValueError:
                raise DataError(f"{path}:{line}: score {value!r} in column {sub.label_column!r} is not a number") \
                    from None
        elif value not in sub.labels:
            raise DataError(f"{path}:{line}: unknown label {value!r} in column {sub.label_column!r}; "
                            f"expected one of {list(sub.labels)}")
        else:
            labels.append(sub.labels.index(value))
    dtype = np.float32 if sub.labels is None else np.int32
    return Examples(texts, np.asarray(labels, dtype), index)


def read_glue_tfds(name: str, split: str, sub: Subtask, data_dir: str | None) -> Examples:
    import tensorflow_datasets as tfds

    dataset = tfds.load(f"glue/{name}", split=split, data_dir=data_dir or None)
    texts, labels, index = [], [], []
    for example in tfds.as_numpy(dataset):
        texts.append(tuple(example[f].decode("utf-8") for f in sub.tfds_features))
        labels.append(example["label"])
        index.append(str(int(example["idx"])))
    return Examples(texts, np.asarray(labels, np.float32 if sub.labels is None else np.int32), index)




def read_glue_hf(name: str, split: str, sub: Subtask, dataset: str) -> Examples:
    """A split of Hugging Face nyu-mll/glue (hub or local copy): the same features as TFDS, test labels -1.
    Labels map by their ClassLabel names where those are the subtask's label strings (the NLI tasks), else by
    position (the binary tasks, whose names are words where glue_data has 0/1), after checking the count."""
    ds = hf_datasets.load_split(dataset, name, split)
    names = hf_datasets.label_names(ds, "label")
    texts = [tuple(row) for row in zip(*(ds[f] for f in sub.tfds_features), strict=True)]
    raw = np.asarray(ds["label"])
    if sub.labels is None:
        labels = raw.astype(np.float32)
    else:
        if names is not None and len(names) != len(sub.labels):
            raise DataError(f"{dataset} {name}/{split}: label names {names}; expected {len(sub.labels)} labels "
                            f"like {list(sub.labels)}")
        order = [sub.labels.index(n) for n in names] if names and set(names) == set(sub.labels) else \
            list(range(len(sub.labels)))
        labels = np.where(raw < 0, -1, np.asarray(order)[np.maximum(raw, 0)]).astype(np.int32)
    index = [str(int(i)) for i in ds["idx"]] if "idx" in ds.column_names else [str(i) for i in range(len(ds))]
    return Examples(texts, labels, index)


def read_split(name: str, sub: Subtask, split: str, data) -> Examples:
    """One split of subtask ``name`` from ``data.source``: 'files' (a glue_data folder in ``data.dir``),
    'tfds' (glue/<name>) or 'hf' (``data.dataset``, e.g. nyu-mll/glue or a local copy)."""
    labelled = not split.startswith("test") and split != "ax"
    remote_name = "ax" if split == "ax" else name
    if data.source == "tfds":
        return read_glue_tfds(remote_name, TFDS_SPLITS.get(split, split), sub, data.tfds_data_dir)
    if data.source == "hf":
        return read_glue_hf(data.get("dataset_config") or remote_name, TFDS_SPLITS.get(split, split), sub,
                            data.dataset)
    if data.source == "files":
        if not data.dir:
            raise ValueError("config.data.dir is empty; give the GLUE task folder (e.g. glue_data/RTE)")
        return read_glue_tsv(split_file(sub, split, data.dir), sub, labelled, data.skip_malformed_rows)
    raise ValueError(f"config.data.source={data.source!r}; expected 'files', 'tfds' or 'hf'")


def has_split(name: str, sub: Subtask, split: str, data) -> bool:
    """Whether ``data.source`` holds ``split`` (test splits are optional; TFDS and the hub have no AX in
    MNLI's own config)."""
    if data.source == "files":
        return os.path.exists(split_file(sub, split, data.dir))
    if split == "ax":
        return False
    if data.source == "hf":
        return hf_datasets.has_split(data.dataset, data.get("dataset_config") or name, TFDS_SPLITS.get(split, split))
    return True


def split_file(sub: Subtask, split: str, directory: str) -> str:
    """The released file of a split in a glue_data task folder."""
    return os.path.normpath(os.path.join(directory, dict(sub.test).get(split, f"{split}.tsv")))
