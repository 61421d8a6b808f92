"""Local copies of Hugging Face hub datasets, written with `datasets` itself from ../shared/data in the hub's
parquet layout (<dir>/<config>/<split>-00000-of-00001.parquet), for the tests of config.data.source=hf."""

import os

from bert_jax.data.glue_data import SUBTASKS, read_glue_tsv

# nyu-mll/glue's split names for the released files.
GLUE_SPLITS = {"train": "train.tsv", "validation": "dev.tsv"}


def write_glue(glue_folder: str, config: str, out_dir: str) -> str:
    """nyu-mll/glue <config> from a glue_data task folder: the hub's columns (TFDS feature names, label as a
    ClassLabel with the hub's names, idx) and a test split without labels (-1)."""
    import datasets

    sub = SUBTASKS[config]
    label = datasets.ClassLabel(names=list(sub.labels)) if sub.labels else datasets.Value("float32")
    features = datasets.Features({**{f: datasets.Value("string") for f in sub.tfds_features}, "label": label,
                                  "idx": datasets.Value("int32")})
    for split, name in GLUE_SPLITS.items():
        examples = read_glue_tsv(os.path.join(glue_folder, name), sub, labelled=True)
        columns = {f: [t[i] for t in examples.texts] for i, f in enumerate(sub.tfds_features)}
        columns.update(label=examples.labels.tolist(), idx=[int(i) for i in examples.index])
        _write(datasets.Dataset.from_dict(columns, features=features), out_dir, config, split)
        if split == "validation":  # a test split: the dev texts without their labels, as the hub's test splits
            columns["label"] = [-1] * len(columns["idx"])
            _write(datasets.Dataset.from_dict(columns, features=features), out_dir, config, "test")
    return out_dir


def _write(dataset, out_dir: str, config: str, split: str) -> None:
    os.makedirs(os.path.join(out_dir, config), exist_ok=True)
    dataset.to_parquet(os.path.join(out_dir, config, f"{split}-00000-of-00001.parquet"))


def write_conll(conll_folder: str, out_dir: str) -> str:
    """eriktks/conll2003 (config conll2003) from the CoNLL-2003 column files: tokens and integer POS, chunk and
    NER tags with ClassLabel names (NER in the hub's order, the others as the files have them); no documents."""
    import datasets

    from bert_jax.data.readers import CONLL_TAGS, read_conll

    splits = {split: read_conll(os.path.join(conll_folder, name)) for split, name in
              (("train", "train.txt"), ("validation", "valid.txt"))}
    names = {c: sorted({line[k] for sentences in splits.values() for s in sentences for line in s.lines})
             for k, c in ((1, "pos_tags"), (2, "chunk_tags"))}
    hub_ner = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
    assert set(hub_ner) == set(CONLL_TAGS)
    features = datasets.Features({
        "id": datasets.Value("string"), "tokens": datasets.Sequence(datasets.Value("string")),
        "pos_tags": datasets.Sequence(datasets.ClassLabel(names=names["pos_tags"])),
        "chunk_tags": datasets.Sequence(datasets.ClassLabel(names=names["chunk_tags"])),
        "ner_tags": datasets.Sequence(datasets.ClassLabel(names=hub_ner))})
    for split, sentences in splits.items():
        columns = {"id": [str(i) for i in range(len(sentences))], "tokens": [s.words for s in sentences],
                   "pos_tags": [[names["pos_tags"].index(line[1]) for line in s.lines] for s in sentences],
                   "chunk_tags": [[names["chunk_tags"].index(line[2]) for line in s.lines] for s in sentences],
                   "ner_tags": [[hub_ner.index(t) for t in s.tags] for s in sentences]}
        _write(datasets.Dataset.from_dict(columns, features=features), out_dir, "conll2003", split)
    return out_dir


def write_squad(json_path: str, out_dir: str) -> str:
    """rajpurkar/squad (config plain_text) from a SQuAD v1.1 JSON file: one row per question with the answers
    struct; the file's questions make both the train and the validation split."""
    import datasets

    from bert_jax.data.readers import read_squad_json

    examples = read_squad_json(json_path)
    features = datasets.Features({
        "id": datasets.Value("string"), "title": datasets.Value("string"), "context": datasets.Value("string"),
        "question": datasets.Value("string"),
        "answers": datasets.Sequence({"text": datasets.Value("string"), "answer_start": datasets.Value("int32")})})
    columns = {"id": [e.qid for e in examples], "title": [e.title for e in examples],
               "context": [e.context for e in examples], "question": [e.question for e in examples],
               "answers": [{"text": [t for t, _ in e.answers], "answer_start": [s for _, s in e.answers]}
                           for e in examples]}
    for split in ("train", "validation"):
        _write(datasets.Dataset.from_dict(columns, features=features), out_dir, "plain_text", split)
    return out_dir


def write_swag(folder: str, out_dir: str) -> str:
    """allenai/swag (config regular) from SWAG's released CSV files (train.csv, val.csv, test.csv): the CSV's
    columns as the hub names them, test labels -1."""
    import csv

    import datasets

    names = {"train": "train.csv", "validation": "val.csv", "test": "test.csv"}
    columns = ("video-id", "fold-ind", "startphrase", "sent1", "sent2", "gold-source", "ending0", "ending1",
               "ending2", "ending3")
    features = datasets.Features({**{c: datasets.Value("string") for c in columns},
                                  "label": datasets.ClassLabel(names=["0", "1", "2", "3"])})
    for split, name in names.items():
        path = os.path.join(folder, name)
        if not os.path.exists(path):
            continue
        with open(path, encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
        data = {c: [r[c] for r in rows] for c in columns}
        data["label"] = [int(r["label"]) if r.get("label") else -1 for r in rows]
        _write(datasets.Dataset.from_dict(data, features=features), out_dir, "regular", split)
    return out_dir
