"""GLUE: one task, a table of subtasks. Sources: a local glue_data folder (the released TSV files)
or TFDS ``glue/<name>``. Dev metrics as the leaderboard names them; test predictions in the
leaderboard's submission format (predictions/glue/<Task>.tsv with index and label string; AX from MNLI).
"""

from __future__ import annotations

import dataclasses
import logging
import os

import jax.numpy as jnp
import numpy as np

from bert_jax import metrics
from bert_jax.data.packing import PACKING_KEYS
from bert_jax.data.readers import DataError, read_tsv
from bert_jax.io_utils import write_text
from bert_jax.models.heads import SequenceClassificationHead
from bert_jax.tasks.base import register
from bert_jax.tasks.finetune import Features, FinetuneTask, in_order
from bert_jax.tasks.losses import cross_entropy_with_integer_labels

log = logging.getLogger(__name__)


def classification_inputs(batch: dict) -> dict:
    """The model's inputs; packed training batches (data.pack_per_row > 1) add position/segment ids and
    [CLS] positions."""
    names = ("input_ids", "token_type_ids", "attention_mask") + PACKING_KEYS
    return {k: batch[k] for k in names if k in batch}


def classification_loss(outputs: dict, batch: dict, regression: bool = False):
    """Mean over the batch's examples: logits [batch, labels] unpacked, [rows, k, labels] packed, with
    ``label_weights`` (0 = an empty [CLS] slot) when present. Regression is HF's num_labels=1: squared error."""
    logits = outputs["logits"].astype(jnp.float32)
    weights = batch.get("label_weights", jnp.ones(batch["labels"].shape, jnp.float32))
    count = jnp.sum(weights)
    if regression:
        return jnp.sum((logits[..., 0] - batch["labels"]) ** 2 * weights) / count, {}
    per_example = cross_entropy_with_integer_labels(logits, batch["labels"])
    correct = jnp.argmax(logits, -1) == batch["labels"]
    return jnp.sum(per_example * weights) / count, {"accuracy": jnp.sum(correct * weights) / count}


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


@register("glue")
class GlueTask(FinetuneTask):
    def __init__(self, config, workdir: str):
        self.subtask = subtask_name(config.task.subtask)
        self.sub = SUBTASKS[self.subtask]
        super().__init__(config, workdir)
        self.eval_splits = self.sub.dev
        self.selection_metric = "score"
        self._examples: dict[str, Examples] = {}

    # ------------------------------------------------------------------------------------ data
    def _file(self, split: str) -> str:
        named = dict(self.sub.test)
        return os.path.normpath(os.path.join(self.config.data.dir, named.get(split, f"{split}.tsv")))

    def examples(self, split: str) -> Examples:
        if split not in self._examples:
            data = self.config.data
            labelled = not split.startswith("test") and split != "ax"
            if data.source == "tfds":
                name = "ax" if split == "ax" else self.subtask
                out = read_glue_tfds(name, TFDS_SPLITS.get(split, split), self.sub, data.tfds_data_dir)
            elif data.source == "files":
                if not data.dir:
                    raise ValueError("config.data.dir is empty; give the GLUE task folder (e.g. glue_data/RTE)")
                out = read_glue_tsv(self._file(split), self.sub, labelled, data.skip_malformed_rows)
            else:
                raise ValueError(f"config.data.source={data.source!r}; expected 'files' or 'tfds'")
            if split == "train":
                keep = self.limit(len(out.texts))
                out = Examples([out.texts[i] for i in keep], out.labels[keep], [out.index[i] for i in keep])
            self._examples[split] = out
            log.info("%s %s: %d examples", self.subtask, split, len(out.texts))
        return self._examples[split]

    def featurize(self, split: str) -> Features:
        ex = self.examples(split)
        firsts = [t[0] for t in ex.texts]
        seconds = [t[1] for t in ex.texts] if len(self.sub.text_columns) == 2 else None
        enc = self.tokenizer.encode_batch(firsts, seconds, max_length=self.max_length, truncation=True,
                                          padding="max_length")
        arrays = {k: enc[k] for k in ("input_ids", "token_type_ids", "attention_mask")}
        arrays["labels"] = ex.labels
        return Features(arrays, enc["attention_mask"].sum(-1))

    def test_splits(self) -> tuple[str, ...]:
        if not self.config.data.predict_test:
            return ()
        if self.config.data.source == "tfds":
            return tuple(s for s, _ in self.sub.test if s != "ax")
        return tuple(s for s, _ in self.sub.test if os.path.exists(self._file(s)))

    # ------------------------------------------------------------------------------- model side
    @property
    def regression(self) -> bool:
        return self.sub.labels is None

    packable = True

    def head(self):
        return SequenceClassificationHead(self.model_config, 1 if self.regression else len(self.sub.labels))

    def inputs(self, batch):
        return classification_inputs(batch)

    def loss(self, outputs, batch):
        return classification_loss(outputs, batch, self.regression)

    def predict(self, outputs, batch):
        logits = outputs["logits"].astype(jnp.float32)
        prediction = logits[:, 0] if self.regression else jnp.argmax(logits, -1)
        return {"prediction": prediction, "logits": logits, "example_index": batch["example_index"]}

    # ------------------------------------------------------------------------------- host side
    def evaluate(self, predictions, split):
        ordered = in_order(predictions)  # every example, or the first config.eval_batches batches' worth
        p, gold = ordered["prediction"], self.examples(split).labels[ordered["example_index"]]
        values = {}
        for name in self.sub.metrics:
            if name == "accuracy":
                values[name] = metrics.accuracy(p, gold)
            elif name == "f1":
                values[name] = metrics.f1_binary(p, gold)
            elif name == "matthews_correlation":
                values[name] = metrics.matthews_corrcoef(p, gold)
            elif name == "pearson":
                values[name] = metrics.pearson(p, gold)
            elif name == "spearmanr":
                values[name] = metrics.spearman(p, gold)
        # The leaderboard's per-task score: the mean of its metrics (MRPC F1/acc, STS-B Pearson/Spearman).
        values["score"] = float(np.mean(list(values.values())))
        if split == "dev_mismatched":  # MNLI: HF's names, both in one results file
            return {f"{k}_mm": v for k, v in values.items()}
        return values

    def combine(self, results: dict) -> dict:
        """MNLI: the score is the mean of matched and mismatched accuracy, as the GLUE average counts it."""
        if "score_mm" in results:
            results = dict(results, score=(results["score"] + results.pop("score_mm")) / 2)
        return results

    def label_string(self, prediction) -> str:
        if self.regression:
            return f"{min(5.0, max(0.0, float(prediction))):.3f}"  # the leaderboard takes scores in [0, 5]
        return self.sub.labels[int(prediction)]

    def write_predictions(self, predictions, split):
        ordered = in_order(predictions)
        p, ex = ordered["prediction"], self.examples(split)
        ex = Examples([ex.texts[i] for i in ordered["example_index"]], ex.labels[ordered["example_index"]],
                      [ex.index[i] for i in ordered["example_index"]])
        if split in dict(self.sub.test):
            files = self.sub.submission or (f"{self.sub.folder}.tsv",)
            names = dict(zip((s for s, _ in self.sub.test), files, strict=True))
            path = os.path.join(self.predictions_dir(), "glue", names[split])
            os.makedirs(os.path.dirname(path), exist_ok=True)
            rows = [f"{i}\t{self.label_string(v)}" for i, v in zip(ex.index, p, strict=True)]
            write_text(path, "index\tprediction\n" + "\n".join(rows) + "\n")
        else:
            rows = [f"{i}\t{self.label_string(v)}\t{self.label_string(g)}"
                    for i, v, g in zip(ex.index, p, ex.labels, strict=True)]
            write_text(os.path.join(self.predictions_dir(), f"{split}.tsv"),
                       "index\tprediction\tlabel\n" + "\n".join(rows) + "\n")
