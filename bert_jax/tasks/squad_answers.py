"""SQuAD postprocessing: from start/end logits of every window to one answer per question.

Per window, the n_best highest start logits (context tokens where the window has max context) and the
n_best highest end logits (context tokens) form candidate spans with start ≤ end and at most
max_answer_length tokens, scored start_logit + end_logit (the paper's S·Tᵢ + E·Tⱼ). The question's
candidates from all its windows are ranked together; the text comes from the original context through
the character offsets, never from detokenised pieces.

v2.0: a window's null score is start_logit[CLS] + end_logit[CLS]; the question's is the smallest over its
windows (Google's run_squad). null odds = null score − best non-null score; the answer is '' when the odds
exceed the threshold. A question whose n-best holds no non-null span (google-research/bert #476 crashes
there) gets '' and odds +inf.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from bert_jax.data.readers import SquadExample


@dataclasses.dataclass
class Answers:
    """Per question id: ``text`` the best non-null span ('' if none), ``null_odds`` (v2.0, else absent),
    ``nbest`` the ranked candidates as written to nbest_predictions.json."""

    text: dict[str, str]
    null_odds: dict[str, float]
    nbest: dict[str, list[dict]]

    def predictions(self, threshold: float | None) -> dict[str, str]:
        """Answer texts; with a threshold (v2.0), '' where the null odds exceed it."""
        if threshold is None:
            return dict(self.text)
        return {q: ("" if self.null_odds[q] > threshold else t) for q, t in self.text.items()}


def _top(logits: np.ndarray, allowed: np.ndarray, n: int) -> np.ndarray:
    """Positions of the n largest logits among the allowed ones, best first."""
    candidates = np.flatnonzero(allowed)
    if len(candidates) > n:
        candidates = candidates[np.argpartition(-logits[candidates], n - 1)[:n]]
    return candidates[np.argsort(-logits[candidates], kind="stable")]


def best_answers(examples: list[SquadExample], window_example: np.ndarray, start_logits: np.ndarray,
                 end_logits: np.ndarray, offsets: np.ndarray, max_context: np.ndarray, n_best: int = 20,
                 max_answer_length: int = 30, with_null: bool = False) -> Answers:
    """Args: ``window_example`` [F] the example of each window; logits [F, W] (W ≤ the windows' width;
    NaN past a batch's width is never read); ``offsets`` [F, L, 2] (-1 off the context) and
    ``max_context`` [F, L] from squad_windows. Only examples with at least one window are answered."""
    width = start_logits.shape[1]
    candidates: dict[int, list[tuple]] = {}
    null: dict[int, tuple[float, float, float]] = {}  # example → (score, start logit, end logit) at [CLS]
    for f, n in enumerate(window_example):
        start, end = start_logits[f].astype(np.float64), end_logits[f].astype(np.float64)
        is_context = offsets[f, :width, 0] >= 0
        out = candidates.setdefault(int(n), [])
        if start[0] + end[0] < null.get(int(n), (math.inf,))[0]:
            null[int(n)] = (start[0] + end[0], start[0], end[0])
        ends = _top(end, is_context, n_best)
        for i in _top(start, max_context[f, :width] & is_context, n_best):
            for j in ends:
                if i <= j < i + max_answer_length:
                    out.append((start[i] + end[j], start[i], end[j], int(offsets[f, i, 0]), int(offsets[f, j, 1])))
    texts, odds, nbest = {}, {}, {}
    for n, spans in candidates.items():
        example = examples[n]
        spans.sort(key=lambda s: -s[0])
        entries, seen = [], set()
        for score, s_logit, e_logit, char_start, char_end in spans:
            text = example.context[char_start:char_end]
            if text in seen:
                continue
            seen.add(text)
            entries.append({"text": text, "start_logit": s_logit, "end_logit": e_logit, "score": score})
            if len(entries) == n_best:
                break
        best = entries[0]["score"] if entries else -math.inf
        texts[example.qid] = entries[0]["text"] if entries else ""
        if with_null:
            score, s_logit, e_logit = null[n]
            odds[example.qid] = score - best
            entries.append({"text": "", "start_logit": s_logit, "end_logit": e_logit, "score": score})
            entries.sort(key=lambda e: -e["score"])
        nbest[example.qid] = _with_probabilities(entries)
    return Answers(texts, odds, nbest)


def _with_probabilities(entries: list[dict]) -> list[dict]:
    """Softmax of the entries' scores (Google's nbest 'probability')."""
    if not entries:
        return []
    scores = np.array([e["score"] for e in entries])
    p = np.exp(scores - scores.max())
    p /= p.sum()
    return [{**e, "probability": float(pi)} for e, pi in zip(entries, p, strict=True)]
