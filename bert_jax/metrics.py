"""Official metrics, in NumPy: GLUE (accuracy, F1, MCC, Pearson/Spearman), SQuAD v1.1/v2.0 EM/F1 with
the v2 null-threshold search, and CoNLL entity-level F1 (conlleval's chunking, as seqeval's default mode).

Each is written from its definition and tested against the reference implementation (scikit-learn,
scipy, seqeval, the SQuAD evaluation scripts' rules), which the package itself does not need.
"""

from __future__ import annotations

import collections
import re
import string
from typing import Iterable, Sequence

import numpy as np


# ------------------------------------------------------------------------------------------------ GLUE
def accuracy(predictions, labels) -> float:
    return float(np.mean(np.asarray(predictions) == np.asarray(labels)))


def f1_binary(predictions, labels, positive=1) -> float:
    """F1 of the positive class (MRPC, QQP); 0.0 when there are no true or predicted positives."""
    p, y = np.asarray(predictions) == positive, np.asarray(labels) == positive
    tp = float(np.sum(p & y))
    denominator = float(np.sum(p) + np.sum(y))
    return 2 * tp / denominator if denominator else 0.0


def matthews_corrcoef(predictions, labels) -> float:
    """Binary or multiclass MCC (CoLA) from the confusion matrix; 0.0 when undefined (one class only)."""
    p, y = np.asarray(predictions), np.asarray(labels)
    classes = np.union1d(p, y)
    index = {c: i for i, c in enumerate(classes)}
    confusion = np.zeros((len(classes), len(classes)), np.float64)
    np.add.at(confusion, ([index[v] for v in y], [index[v] for v in p]), 1)
    t_k, p_k = confusion.sum(1), confusion.sum(0)
    c, s = np.trace(confusion), confusion.sum()
    denominator = np.sqrt((s * s - p_k @ p_k) * (s * s - t_k @ t_k))
    return float((c * s - t_k @ p_k) / denominator) if denominator else 0.0


def pearson(x, y) -> float:
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    xm, ym = x - x.mean(), y - y.mean()
    denominator = np.sqrt((xm @ xm) * (ym @ ym))
    return float(xm @ ym / denominator) if denominator else float("nan")


def _average_ranks(values) -> np.ndarray:
    """Ranks 1..n with ties given their average rank (as scipy.stats.rankdata's default)."""
    values = np.asarray(values)
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), np.float64)
    sorted_values = values[order]
    start = 0
    for end in range(1, len(values) + 1):
        if end == len(values) or sorted_values[end] != sorted_values[start]:
            ranks[order[start:end]] = (start + end + 1) / 2.0
            start = end
    return ranks


def spearman(x, y) -> float:
    return pearson(_average_ranks(x), _average_ranks(y))


# ----------------------------------------------------------------------------------------------- SQuAD
def normalize_answer(text: str) -> str:
    """The official SQuAD normalisation: lower case, no punctuation, no articles, single spaces."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def squad_exact(prediction: str, gold: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(gold))


def squad_f1(prediction: str, gold: str) -> float:
    """Token-overlap F1 after normalisation; an empty side scores 1 only if both are empty (v2.0 rule)."""
    pred_tokens, gold_tokens = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if not pred_tokens or not gold_tokens:
        return float(pred_tokens == gold_tokens)
    common = collections.Counter(pred_tokens) & collections.Counter(gold_tokens)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred_tokens), same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def squad_scores(predictions: dict[str, str], gold_answers: dict[str, list[str]]) -> tuple[dict, dict]:
    """Per-question EM and F1, the max over gold answers; an unanswerable question's gold is ['']."""
    exact, f1 = {}, {}
    for qid, golds in gold_answers.items():
        golds = [g for g in golds if normalize_answer(g)] or [""]
        prediction = predictions.get(qid, "")
        exact[qid] = max(squad_exact(prediction, g) for g in golds)
        f1[qid] = max(squad_f1(prediction, g) for g in golds)
    return exact, f1


def squad_evaluate(predictions: dict[str, str], gold_answers: dict[str, list[str]]) -> dict:
    """exact and f1 in percent over all questions, with the v2.0 HasAns/NoAns breakdown when present."""
    exact, f1 = squad_scores(predictions, gold_answers)
    out = {"exact": 100.0 * np.mean(list(exact.values())), "f1": 100.0 * np.mean(list(f1.values())),
           "total": len(exact)}
    has_answer = [q for q, g in gold_answers.items() if any(normalize_answer(x) for x in g)]
    no_answer = [q for q in gold_answers if q not in set(has_answer)]
    for name, ids in (("HasAns", has_answer), ("NoAns", no_answer)):
        if ids and no_answer:
            out[f"{name}_exact"] = 100.0 * np.mean([exact[q] for q in ids])
            out[f"{name}_f1"] = 100.0 * np.mean([f1[q] for q in ids])
            out[f"{name}_total"] = len(ids)
    return {k: float(v) if isinstance(v, (float, np.floating)) else v for k, v in out.items()}


def best_null_threshold(scores: dict[str, float], null_odds: dict[str, float],
                        gold_answers: dict[str, list[str]], predictions: dict[str, str]) -> tuple[float, float]:
    """The official evaluate-v2.0 find_best_thresh: sweep the no-answer odds (null score minus best
    non-null score) and return (best score in percent, threshold). A question is answered '' when its
    odds exceed the threshold.

    One deliberate difference: when abstaining on every question is best, the official script returns
    threshold 0.0, which does not give its own best score when applied; this returns a threshold below
    every odds value (min − 1), which does."""
    answerable = {q: any(normalize_answer(x) for x in g) for q, g in gold_answers.items()}
    current = best = float(sum(not a for a in answerable.values()))
    threshold = min(null_odds[q] for q in scores) - 1.0 if scores else 0.0
    for qid in sorted(null_odds, key=lambda q: null_odds[q]):
        if qid not in scores:
            continue
        if answerable[qid]:
            diff = scores[qid]
        elif predictions[qid]:
            diff = -1.0
        else:
            diff = 0.0
        current += diff
        if current > best:
            best, threshold = current, null_odds[qid]
    return 100.0 * best / len(scores), threshold


# ------------------------------------------------------------------------------------------ CoNLL NER
def _split_tag(tag: str) -> tuple[str, str]:
    """'B-PER' → ('B', 'PER'); 'O' → ('O', '')."""
    if tag == "O":
        return "O", ""
    prefix, dash, kind = tag.partition("-")
    if not dash or prefix not in ("B", "I", "E", "S"):
        raise ValueError(f"tag {tag!r} is not O or B-/I-/E-/S-<type>")
    return prefix, kind


def _ends(prev_tag, tag, prev_type, type_) -> bool:
    """conlleval's endOfChunk."""
    return (prev_tag in ("E", "S") or (prev_tag in ("B", "I") and tag in ("B", "S", "O"))
            or (prev_tag != "O" and prev_type != type_))


def _starts(prev_tag, tag, prev_type, type_) -> bool:
    """conlleval's startOfChunk."""
    return (tag in ("B", "S") or (prev_tag in ("E", "S", "O") and tag in ("E", "I"))
            or (tag != "O" and prev_type != type_))


def entities(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """conlleval chunks (type, first, last) of one tag sequence; works for IOB1, IOB2 (BIO) and IOBES."""
    chunks, prev_tag, prev_type, begin = [], "O", "", 0
    for i, tag in enumerate(list(tags) + ["O"]):
        t, kind = _split_tag(tag)
        if _ends(prev_tag, t, prev_type, kind):
            chunks.append((prev_type, begin, i - 1))
        if _starts(prev_tag, t, prev_type, kind):
            begin = i
        prev_tag, prev_type = t, kind
    return chunks


def entity_f1(gold: Iterable[Sequence[str]], predicted: Iterable[Sequence[str]]) -> dict:
    """Micro precision / recall / F1 over entity chunks of all sentences (conlleval, seqeval default)."""
    true_chunks, pred_chunks = set(), set()
    for s, (g, p) in enumerate(zip(gold, predicted, strict=True)):
        if len(g) != len(p):
            raise ValueError(f"sentence {s}: {len(g)} gold tags but {len(p)} predicted")
        true_chunks.update((s, *c) for c in entities(g))
        pred_chunks.update((s, *c) for c in entities(p))
    correct = len(true_chunks & pred_chunks)
    precision = correct / len(pred_chunks) if pred_chunks else 0.0
    recall = correct / len(true_chunks) if true_chunks else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "gold_entities": len(true_chunks),
            "predicted_entities": len(pred_chunks)}
