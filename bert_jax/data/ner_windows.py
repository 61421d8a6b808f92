"""CoNLL sentences → unpadded token windows of up to max_length tokens for tagging: each word's label on its
first sub-word, the other sub-words, [CLS], [SEP] and context ignored (IGNORE); a sentence longer than the
window continues in the next row; with ``document_context`` the sentence's neighbours in its document fill
the rest of the window (the BERT paper's "maximal document context"), unlabelled.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from bert_jax.data.loaders import RaggedRows
from bert_jax.data.readers import ConllSentence
from bert_jax.data.tokenizer import Tokenizer

IGNORE = -1  # the label of every token that is not a word's first sub-word: not scored


class WordPieces:
    """Words → their sub-word ids, each distinct word tokenized once, as a word of running text (byte-level BPE:
    with the space before it, as transformers' ``is_split_into_words``)."""

    def __init__(self, tokenizer: Tokenizer):
        self.tokenizer = tokenizer.for_words()
        self._cache: dict[str, list[int]] = {}

    def __call__(self, words: list[str]) -> list[list[int]]:
        missing = sorted({w for w in words if w not in self._cache})
        for word, pieces in zip(missing, self.tokenizer.split(missing), strict=True):
            self._cache[word] = pieces.ids
        return [self._cache[w] for w in words]


@dataclasses.dataclass
class NerWindows:
    arrays: dict[str, RaggedRows]  # input_ids, token_type_ids, attention_mask, labels: one unpadded row per window
    word_positions: list[tuple[int, np.ndarray]]  # per row: (sentence index, [words, 2] of (word, token position))


def featurize(sentences: list[ConllSentence], word_pieces: WordPieces, labels: Sequence[str], tokenizer: Tokenizer,
              max_length: int, document_context: bool) -> NerWindows:
    """The windows of ``sentences``; label ids are positions in ``labels``."""
    budget = max_length - 2
    pieces = [word_pieces(s.words) for s in sentences]
    flat = [[p for word in sentence for p in word] for sentence in pieces]
    rows, positions = [], []
    for i, (sentence, words) in enumerate(zip(sentences, pieces, strict=True)):
        start = 0
        while start < len(words) or start == 0:
            ids, row_labels, first = [], [], []
            end = start
            while end < len(words) and (not ids or len(ids) + len(words[end]) <= budget):
                if words[end]:
                    first.append((end, len(ids)))
                    row_labels += [labels.index(sentence.tags[end])] + [IGNORE] * (len(words[end]) - 1)
                    ids += words[end]
                end += 1
            ids, row_labels = ids[:budget], row_labels[:budget]  # a single word longer than the window
            whole = start == 0 and end == len(words)
            left, right = _context(sentences, flat, i, budget - len(ids)) if whole and document_context else ([], [])
            row_ids = [tokenizer.cls_id, *left, *ids, *right, tokenizer.sep_id]
            rows.append((row_ids, [IGNORE] * (1 + len(left)) + row_labels + [IGNORE] * (len(right) + 1)))
            offset = 1 + len(left)
            positions.append((i, np.array([[w, offset + p] for w, p in first if offset + p < len(row_ids) - 1],
                                          np.int32).reshape(-1, 2)))
            start = end
            if end >= len(words):
                break
    arrays = {"input_ids": RaggedRows.from_rows([ids for ids, _ in rows], fill=tokenizer.pad_id),
              "token_type_ids": RaggedRows.from_rows([[0] * len(ids) for ids, _ in rows]),
              "attention_mask": RaggedRows.from_rows([[1] * len(ids) for ids, _ in rows]),
              "labels": RaggedRows.from_rows([row_labels for _, row_labels in rows], fill=IGNORE)}
    return NerWindows(arrays, positions)


def _context(sentences, flat, i, room: int) -> tuple[list[int], list[int]]:
    """Pieces of the neighbouring sentences of the same document: up to half the room on each side,
    the unused half of one side given to the other."""
    doc = sentences[i].document
    # A document's sentences are consecutive: walk back to its start, and stop once there is room's worth
    # (the left context takes at most `room`). Scanning every earlier sentence of the split made featurizing
    # CoNLL's train set quadratic (10 of its 13 s).
    before = []  # the preceding sentences' pieces, nearest first
    for j in range(i - 1, -1, -1):
        if sentences[j].document != doc or len(before) >= room:
            break
        before += reversed(flat[j])
    after = []
    for j in range(i + 1, len(sentences)):
        if sentences[j].document != doc:
            break
        after += flat[j]
        if len(after) >= room:
            break
    take_left = min(len(before), max(room // 2, room - len(after)))
    take_right = min(len(after), room - take_left)
    return list(reversed(before[:take_left])), after[:take_right]
