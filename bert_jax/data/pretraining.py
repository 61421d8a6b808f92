"""Google's create_pretraining_data, on token ids: documents → NSP segment pairs → MLM masking; and the
family's variants: ALBERT's sentence-order pairs and n-gram masking (google-research/albert), RoBERTa's
FULL-SENTENCES rows (no second segment, no sentence label).

Transcribed from google-research/bert create_pretraining_data.py with Python's ``random.Random`` in the
same call order, so the same seed and the same tokens give the same instances. Two changes, both for
memory (pitfall #7): documents are processed in blocks (the random "next" segment comes from another
document of the same block; one block = Google exactly), and pairs are stored unmasked so masking can be
done per example at load time (``mask_instance``), fresh each epoch (dynamic) or fixed (static).
"""

from __future__ import annotations

import dataclasses
import random
from typing import Iterable, Iterator, Sequence

import numpy as np

SENTENCE_TASKS = ("nsp", "sop", "none")  # BERT's next sentence, ALBERT's sentence order, RoBERTa's none


@dataclasses.dataclass(frozen=True)
class PairOptions:
    max_seq_length: int = 128
    short_seq_prob: float = 0.1
    dupe_factor: int = 1
    # 'nsp': B is the next text or (50%) a random document's (label 1); 'sop': B is the next text and (50%)
    # A and B are swapped (label 1; ALBERT); 'none': FULL-SENTENCES rows (RoBERTa), see full_sentence_rows.
    sentence_task: str = "nsp"


@dataclasses.dataclass(frozen=True)
class MaskOptions:
    masked_lm_prob: float = 0.15
    max_predictions_per_seq: int = 20
    whole_word_mask: bool = False
    max_ngram: int = 1  # >1: ALBERT's n-gram masking, spans of n words with p(n) ∝ 1/n


@dataclasses.dataclass
class Pair:
    """[CLS] A [SEP] B [SEP] as ids, before masking."""

    tokens: list[int]
    segment_ids: list[int]
    is_random_next: bool


def _truncate_seq_pair(tokens_a: list, tokens_b: list, max_num_tokens: int, rng: random.Random) -> None:
    """Google's pretraining truncation: trim the longer segment from a random end."""
    while len(tokens_a) + len(tokens_b) > max_num_tokens:
        trunc_tokens = tokens_a if len(tokens_a) > len(tokens_b) else tokens_b
        if rng.random() < 0.5:
            del trunc_tokens[0]
        else:
            trunc_tokens.pop()


def create_pairs_from_document(all_documents: Sequence[Sequence[list[int]]], document_index: int,
                               options: PairOptions, cls_id: int, sep_id: int, rng: random.Random) -> list[Pair]:
    """Google's create_instances_from_document without the masking step."""
    document = all_documents[document_index]
    max_num_tokens = options.max_seq_length - 3
    target_seq_length = max_num_tokens
    if rng.random() < options.short_seq_prob:
        target_seq_length = rng.randint(2, max_num_tokens)
    pairs = []
    current_chunk: list[list[int]] = []
    current_length = 0
    i = 0
    while i < len(document):
        segment = document[i]
        current_chunk.append(segment)
        current_length += len(segment)
        if i == len(document) - 1 or current_length >= target_seq_length:
            if current_chunk:
                a_end = 1
                if len(current_chunk) >= 2:
                    a_end = rng.randint(1, len(current_chunk) - 1)
                tokens_a = [t for j in range(a_end) for t in current_chunk[j]]
                tokens_b: list[int] = []
                sop = options.sentence_task == "sop"
                if len(current_chunk) == 1 or (not sop and rng.random() < 0.5):
                    is_random_next = True
                    target_b_length = target_seq_length - len(tokens_a)
                    for _ in range(10):
                        random_document_index = rng.randint(0, len(all_documents) - 1)
                        if random_document_index != document_index:
                            break
                    random_document = all_documents[random_document_index]
                    random_start = rng.randint(0, len(random_document) - 1)
                    for j in range(random_start, len(random_document)):
                        tokens_b.extend(random_document[j])
                        if len(tokens_b) >= target_b_length:
                            break
                    # The segments of this chunk that B did not use go back to be read again.
                    i -= len(current_chunk) - a_end
                elif sop and rng.random() < 0.5:  # ALBERT: the two halves in the wrong order
                    is_random_next = True
                    tokens_b = [t for j in range(a_end, len(current_chunk)) for t in current_chunk[j]]
                    tokens_a, tokens_b = tokens_b, tokens_a
                else:
                    is_random_next = False
                    tokens_b = [t for j in range(a_end, len(current_chunk)) for t in current_chunk[j]]
                _truncate_seq_pair(tokens_a, tokens_b, max_num_tokens, rng)
                if tokens_a and tokens_b:  # Google asserts; a one-document corpus can violate it
                    tokens = [cls_id, *tokens_a, sep_id, *tokens_b, sep_id]
                    segment_ids = [0] * (len(tokens_a) + 2) + [1] * (len(tokens_b) + 1)
                    pairs.append(Pair(tokens, segment_ids, is_random_next))
            current_chunk = []
            current_length = 0
        i += 1
    return pairs


def full_sentence_rows(block: Sequence[Sequence[list[int]]], options: PairOptions, cls_id: int, sep_id: int
                       ) -> list[Pair]:
    """RoBERTa's FULL-SENTENCES: sentences read contiguously, across document ends (marked by an extra
    separator token), filling rows of up to max_seq_length: <s> s1 s2 ... </s>, one token type, no label.
    A sentence longer than a row is cut across rows."""
    budget = options.max_seq_length - 2
    rows, current = [], []

    def emit():
        if current:
            rows.append(Pair([cls_id, *current, sep_id], [0] * (len(current) + 2), False))
        current.clear()

    for d, document in enumerate(block):
        pieces = list(document) + ([[sep_id]] if d < len(block) - 1 else [])
        for sentence in pieces:
            if current and len(current) + len(sentence) > budget:
                emit()
            while len(sentence) > budget:
                current.extend(sentence[:budget])
                sentence = sentence[budget:]
                emit()
            current.extend(sentence)
    emit()
    return rows


def create_pairs(documents: Iterable[Sequence[list[int]]], options: PairOptions, cls_id: int, sep_id: int,
                 seed: int, documents_per_block: int = 100_000) -> Iterator[Pair]:
    """Streams pairs block by block: each block is shuffled, paired dupe_factor times and the block's pairs
    shuffled, as Google does for the whole corpus. FULL-SENTENCES rows (``sentence_task='none'``) are made
    from the block in each shuffled document order, dupe_factor times."""
    if options.sentence_task not in SENTENCE_TASKS:
        raise ValueError(f"sentence_task={options.sentence_task!r}; expected one of {SENTENCE_TASKS}")
    rng = random.Random(seed)

    def blocks():
        block = []
        for doc in documents:
            doc = [s for s in doc if s]
            if doc:
                block.append(doc)
            if len(block) == documents_per_block:
                yield block
                block = []
        if block:
            yield block

    for block in blocks():
        rng.shuffle(block)
        if options.sentence_task == "none":
            pairs = []
            for _ in range(options.dupe_factor):
                pairs += full_sentence_rows(block, options, cls_id, sep_id)
                rng.shuffle(block)
        else:
            pairs = [p for _ in range(options.dupe_factor) for i in range(len(block))
                     for p in create_pairs_from_document(block, i, options, cls_id, sep_id, rng)]
        rng.shuffle(pairs)
        yield from pairs


def mask_tokens(tokens: Sequence[int], options: MaskOptions, special_ids: frozenset[int], mask_id: int,
                vocab_size: int, is_continuation: np.ndarray | None, rng: random.Random
                ) -> tuple[list[int], list[int], list[int]]:
    """Google's create_masked_lm_predictions: returns (masked tokens, sorted positions, original ids).

    [CLS]/[SEP] (any special id) are never candidates; with whole-word masking a '##' piece joins the
    word before it; with ``max_ngram`` > 1, spans of up to that many words are masked together (ALBERT).
    80% → [MASK], 10% → unchanged, 10% → a random id from the whole vocab.
    """
    cand_indexes: list[list[int]] = []
    for i, token in enumerate(tokens):
        if token in special_ids:
            continue
        if options.whole_word_mask and cand_indexes and is_continuation is not None and is_continuation[token]:
            cand_indexes[-1].append(i)
        else:
            cand_indexes.append([i])
    output = list(tokens)
    num_to_predict = min(options.max_predictions_per_seq, max(1, int(round(len(tokens) * options.masked_lm_prob))))
    masked: list[tuple[int, int]] = []
    covered: set[int] = set()
    if options.max_ngram > 1:
        choices = _ngram_choices(cand_indexes, options.max_ngram, rng)
    else:
        rng.shuffle(cand_indexes)
        choices = ([index_set] for index_set in cand_indexes)
    for spans in choices:
        if len(masked) >= num_to_predict:
            break
        # The longest span that still fits (an n-gram shrinks toward one word as ALBERT's does).
        index_set = next((s for s in reversed(spans) if len(masked) + len(s) <= num_to_predict), spans[0])
        if len(masked) + len(index_set) > num_to_predict:
            continue
        if any(index in covered for index in index_set):
            continue
        for index in index_set:
            covered.add(index)
            if rng.random() < 0.8:
                replacement = mask_id
            elif rng.random() < 0.5:
                replacement = tokens[index]
            else:
                replacement = rng.randint(0, vocab_size - 1)
            output[index] = replacement
            masked.append((index, tokens[index]))
    masked.sort()
    return output, [i for i, _ in masked], [t for _, t in masked]


def _ngram_choices(cand_indexes: list[list[int]], max_ngram: int, rng: random.Random) -> Iterator[list[list[int]]]:
    """ALBERT's n-gram masking: from each word (in shuffled order) the spans of 1..n words, n drawn with
    p(n) ∝ 1/n among the spans that fit before the end (google-research/albert
    create_masked_lm_predictions); the caller takes the longest that fits its budget, skips overlaps."""
    weights = [1.0 / n for n in range(1, max_ngram + 1)]
    starts = list(range(len(cand_indexes)))
    rng.shuffle(starts)
    for start in starts:
        longest = min(max_ngram, len(cand_indexes) - start)
        n = rng.choices(range(1, longest + 1), weights=weights[:longest])[0]
        yield [[i for word in cand_indexes[start:start + k] for i in word] for k in range(1, n + 1)]


def pretraining_features(tokens: Sequence[int], segment_ids: Sequence[int], is_random_next: bool,
                         max_seq_length: int, options: MaskOptions, special_ids: frozenset[int], mask_id: int,
                         vocab_size: int, is_continuation: np.ndarray | None, rng: random.Random
                         ) -> dict[str, np.ndarray]:
    """One padded example as Google's write_instance_to_example_files lays it out.

    Shapes: input_ids, token_type_ids, attention_mask [max_seq_length]; masked_lm_positions,
    masked_lm_ids, masked_lm_weights [max_predictions_per_seq]; next_sentence_label [] (1 = random next).
    """
    return packed_features([(list(tokens), list(segment_ids), is_random_next)], max_seq_length, 1, options,
                           special_ids, mask_id, vocab_size, is_continuation, rng, packed=False)


def packed_features(instances: Sequence[tuple[list[int], list[int], bool]], max_seq_length: int, max_per_row: int,
                    options: MaskOptions, special_ids: frozenset[int], mask_id: int, vocab_size: int,
                    is_continuation: np.ndarray | None, rng: random.Random, packed: bool = True, pad_id: int = 0
                    ) -> dict[str, np.ndarray]:
    """Several (tokens, token types, is_random_next) instances in one row, each masked on its own as
    Google masks one instance; predictions past max_predictions_per_seq for the row are dropped.

    With ``packed`` the row also gets position_ids (restarting at each instance), segment_ids (1..k per
    instance, 0 = padding: attention stays inside an instance), cls_positions [max_per_row] and per-instance
    next_sentence_label / next_sentence_weights [max_per_row]. Padding is ``pad_id`` (RoBERTa derives its
    positions from it).
    """
    p_max = options.max_predictions_per_seq
    out = {
        "input_ids": np.full(max_seq_length, pad_id, np.int32),
        "token_type_ids": np.zeros(max_seq_length, np.int32),
        "attention_mask": np.zeros(max_seq_length, np.int32),
        "masked_lm_positions": np.zeros(p_max, np.int32),
        "masked_lm_ids": np.zeros(p_max, np.int32),
        "masked_lm_weights": np.zeros(p_max, np.float32),
    }
    if packed:
        out.update(position_ids=np.zeros(max_seq_length, np.int32), segment_ids=np.zeros(max_seq_length, np.int32),
                   cls_positions=np.zeros(max_per_row, np.int32),
                   next_sentence_label=np.zeros(max_per_row, np.int32),
                   next_sentence_weights=np.zeros(max_per_row, np.float32))
    start, n_pred = 0, 0
    for k, (tokens, types, is_random_next) in enumerate(instances):
        masked, positions, labels = mask_tokens(tokens, options, special_ids, mask_id, vocab_size,
                                                is_continuation, rng)
        end = start + len(masked)
        out["input_ids"][start:end] = masked
        out["token_type_ids"][start:end] = types
        out["attention_mask"][start:end] = 1
        take = min(len(positions), p_max - n_pred)
        out["masked_lm_positions"][n_pred:n_pred + take] = np.asarray(positions[:take], np.int32) + start
        out["masked_lm_ids"][n_pred:n_pred + take] = labels[:take]
        out["masked_lm_weights"][n_pred:n_pred + take] = 1.0
        n_pred += take
        if packed:
            out["position_ids"][start:end] = np.arange(len(masked))
            out["segment_ids"][start:end] = k + 1
            out["cls_positions"][k] = start
            out["next_sentence_label"][k] = int(is_random_next)
            out["next_sentence_weights"][k] = 1.0
        else:
            out["next_sentence_label"] = np.int32(is_random_next)
        start = end
    return out
