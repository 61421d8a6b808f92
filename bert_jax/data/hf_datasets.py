"""Hugging Face ``datasets`` as a source of examples (the `hf` extra): a hub name (``nyu-mll/glue``) or a
local directory in the hub's parquet layout, read offline.

Local layouts looked for, ``<dir>`` being ``config.data.dataset``:
    <dir>/<config>/<split>-*.parquet      (nyu-mll/glue, rajpurkar/squad's plain_text, ...)
    <dir>/<config>/<split>/*.parquet      (the hub's refs/convert/parquet branch)
    <dir>/<split>-*.parquet               (a dataset without configs)
Files written by ``datasets`` itself keep their features (ClassLabel names) in the parquet metadata.
"""

from __future__ import annotations

import glob
import os


def load_split(dataset: str, config: str | None, split: str):
    """One split as a ``datasets.Dataset``."""
    try:
        import datasets
    except ImportError:
        raise ValueError("config.data.source='hf' needs Hugging Face datasets: pip install -e '.[hf]'") from None
    if not dataset:
        raise ValueError("config.data.dataset is empty; give a hub name (e.g. nyu-mll/glue) or a local directory "
                         "of its parquet files")
    if os.path.isdir(dataset):
        files = local_files(dataset, config, split)
        return datasets.load_dataset("parquet", data_files={split: files}, split=split)
    return datasets.load_dataset(dataset, config or None, split=split)


def has_split(dataset: str, config: str | None, split: str) -> bool:
    """Whether a local copy holds ``split``; a hub dataset is taken to have the splits its card lists."""
    if not os.path.isdir(dataset):
        return True
    try:
        local_files(dataset, config, split)
    except FileNotFoundError:
        return False
    return True


def local_files(directory: str, config: str | None, split: str) -> list[str]:
    """The parquet files of one split of a local copy of a hub dataset."""
    folders = [os.path.join(directory, config)] if config else []
    folders.append(directory)
    for folder in folders:
        for pattern in (f"{split}-*.parquet", f"{split}.parquet", os.path.join(split, "*.parquet")):
            files = sorted(glob.glob(os.path.join(folder, pattern)))
            if files:
                return files
    where = os.path.join(directory, config) if config else directory
    raise FileNotFoundError(f"{where}: no parquet files for split {split!r} (expected {split}-*.parquet or "
                            f"{split}/*.parquet, the hub's layout)")


def label_names(dataset, column: str) -> list[str] | None:
    """The ClassLabel names of ``column``, or of its items when it is a sequence (None: not a ClassLabel)."""
    feature = dataset.features.get(column)
    feature = getattr(feature, "feature", feature)  # Sequence(ClassLabel) / List(ClassLabel)
    return list(feature.names) if hasattr(feature, "names") else None
