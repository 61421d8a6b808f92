"""SQuAD featurisation: question + context windows with a doc stride, answers mapped to tokens through
character offsets.

Each window is ``[CLS] question [SEP] context piece [SEP]`` (question cut to max_query_length tokens; the
tokenizer's pair format: RoBERTa's <s> q </s></s> c </s>). Windows follow Google's run_squad: each holds up
to ``max_seq_length - len(question) - 3`` (RoBERTa: - 4) context
tokens and the next one starts ``doc_stride`` tokens later (doc_stride is the step between window
starts, as in Google's code; HF's ``stride`` is the overlap instead). A context token seen by several
windows is scored only in the window where it has the most context on both sides ("max context").

Answers: the character span [answer_start, answer_start + len(text)) becomes the smallest token span that
covers it; the span's text, read back from the context through the offsets, is then exactly the gold
text unless the answer starts or ends inside a token. Training windows that do not contain the answer,
and unanswerable questions (v2.0), are labelled at [CLS] (position 0) as both references do, or dropped
with ``out_of_span='drop'``.
"""

from __future__ import annotations

import collections
import dataclasses
import logging

import numpy as np

from bert_jax.data.loaders import RaggedRows
from bert_jax.data.readers import SquadExample
from bert_jax.data.tokenizer import Tokenizer

log = logging.getLogger(__name__)


@dataclasses.dataclass
class SquadWindows:
    """Windows of a list of examples (F windows). ``arrays``: input_ids, token_type_ids, attention_mask as
    unpadded rows (RaggedRows; batches pad them once); ``offsets`` and ``max_context`` [F, max_seq_length].

    ``example``: [F] index of each window's example. ``offsets``: [F, L, 2] character span in the
    context of each context token, -1 elsewhere (question, special tokens, padding). ``max_context``:
    [F, L] True where this window is the one that scores the token as an answer start.
    ``start_positions`` / ``end_positions``: [F] token labels (training only). ``skipped``: counts of
    questions left out of training, by reason."""

    arrays: dict[str, np.ndarray | RaggedRows]
    example: np.ndarray
    offsets: np.ndarray
    max_context: np.ndarray
    lengths: np.ndarray
    skipped: dict[str, int]


def answer_token_span(starts: np.ndarray, ends: np.ndarray, char_start: int, char_end: int) -> tuple[int, int] | None:
    """The smallest token span [i, j] (inclusive) covering characters [char_start, char_end) of the
    text whose tokens span ``starts``/``ends`` [T]; None when no token overlaps it."""
    i = int(np.searchsorted(ends, char_start, side="right"))  # first token ending after the answer starts
    j = int(np.searchsorted(starts, char_end, side="left")) - 1  # last token starting before it ends
    if i >= len(starts) or j < i:
        return None
    return i, j


def window_starts(num_tokens: int, room: int, doc_stride: int) -> list[tuple[int, int]]:
    """(start, length) of each window over ``num_tokens`` context tokens, ``room`` tokens per window,
    a new window every ``doc_stride`` tokens until one reaches the end (Google's doc_spans)."""
    spans, start = [], 0
    while True:
        length = min(num_tokens - start, room)
        spans.append((start, length))
        if start + length >= num_tokens:
            return spans
        start += min(length, doc_stride)


def featurize(examples: list[SquadExample], tokenizer: Tokenizer, max_seq_length: int = 384,
              doc_stride: int = 128, max_query_length: int = 64, training: bool = False,
              out_of_span: str = "cls") -> SquadWindows:
    if out_of_span not in ("cls", "drop"):
        raise ValueError(f"out_of_span={out_of_span!r}; expected 'cls' or 'drop'")
    if max_query_length + 2 + tokenizer.pair_separators >= max_seq_length:
        raise ValueError(f"max_query_length={max_query_length} leaves no room for the context in "
                         f"max_seq_length={max_seq_length}")
    contexts = list(dict.fromkeys(e.context for e in examples))  # unique paragraphs, in order
    context_index = {c: i for i, c in enumerate(contexts)}
    pieces = tokenizer.split([e.question for e in examples] + contexts)
    questions, paragraphs = pieces[:len(examples)], pieces[len(examples):]
    skipped: collections.Counter = collections.Counter()
    rows = []  # (example, ids, types, offsets, max_context, start, end)
    for n, example in enumerate(examples):
        question = questions[n].ids[:max_query_length]
        paragraph = paragraphs[context_index[example.context]]
        starts = np.array([s for s, _ in paragraph.offsets], np.int64)
        ends = np.array([e for _, e in paragraph.offsets], np.int64)
        span = None
        if training and not example.is_impossible:
            if not example.answers:
                skipped["no answer (v1.1 question without answers)"] += 1
                continue
            if not example.aligned(0):
                skipped["answer text not at answer_start"] += 1
                log.warning("%s: answer %r is not at answer_start %d; skipped", example.qid, *example.answers[0])
                continue
            text, char_start = example.answers[0]
            span = answer_token_span(starts, ends, char_start, char_start + len(text))
            if span is None:
                skipped["answer has no tokens"] += 1
                continue
        first = len(question) + 1 + tokenizer.pair_separators  # the paragraph's first token
        room = max_seq_length - first - 1
        windows = window_starts(len(paragraph.ids), room, doc_stride)
        for start, length in windows:
            label = (0, 0)
            if span is not None:
                if start <= span[0] and span[1] < start + length:
                    offset = first - start
                    label = (span[0] + offset, span[1] + offset)
                elif out_of_span == "drop":
                    continue
            ids, types = tokenizer.pair_row(question, paragraph.ids[start:start + length])
            token_offsets = np.full((len(ids), 2), -1, np.int32)
            token_offsets[first:first + length, 0] = starts[start:start + length]
            token_offsets[first:first + length, 1] = ends[start:start + length]
            is_max = np.zeros(len(ids), bool)
            for k in range(length):
                is_max[first + k] = _is_max_context(windows, (start, length), start + k)
            rows.append((n, ids, types, token_offsets, is_max, *label))
    if skipped:
        log.warning("squad: questions left out of training: %s", dict(skipped))
    return _pack(rows, max_seq_length, tokenizer.pad_id, training, dict(skipped))


def _is_max_context(windows: list[tuple[int, int]], window: tuple[int, int], position: int) -> bool:
    """Google's _check_is_max_context: the window with the largest min(left, right) context around the
    token (+ 0.01 × its length, to break ties toward longer windows; the first wins exact ties)."""
    best_score, best = None, None
    for start, length in windows:
        end = start + length - 1
        if not start <= position <= end:
            continue
        score = min(position - start, end - position) + 0.01 * length
        if best_score is None or score > best_score:
            best_score, best = score, (start, length)
    return best == window


def _pack(rows, width: int, pad_id: int, training: bool, skipped: dict) -> SquadWindows:
    f = len(rows)
    arrays = {"input_ids": RaggedRows.from_rows([r[1] for r in rows], fill=pad_id),
              "token_type_ids": RaggedRows.from_rows([r[2] for r in rows]),
              "attention_mask": RaggedRows.from_rows([[1] * len(r[1]) for r in rows])}
    offsets = np.full((f, width, 2), -1, np.int32)
    max_context = np.zeros((f, width), bool)
    for r, (_, ids, _, token_offsets, is_max, _, _) in enumerate(rows):
        offsets[r, :len(ids)] = token_offsets
        max_context[r, :len(ids)] = is_max
    if training:
        arrays["start_positions"] = np.array([r[5] for r in rows], np.int32)
        arrays["end_positions"] = np.array([r[6] for r in rows], np.int32)
    example = np.array([r[0] for r in rows], np.int32)
    return SquadWindows(arrays, example, offsets, max_context, np.diff(arrays["input_ids"].starts), skipped)
