"""Planned batch widths (data/widths.py): the fewest-padding choice against brute force, every batch fits, at
most the limit of widths, and the loaders use the plan."""

import itertools

import numpy as np
import pytest

from bert_jax.data import widths
from bert_jax.data.loaders import EvalBatches, Features, TrainBatches


def _expected_width(chosen, probability):
    return sum(p * widths.fit(w, tuple(sorted(chosen))) for w, p in probability.items())


@pytest.mark.parametrize("seed", range(6))
def test_fewest_padding_is_the_best_subset_found_by_brute_force(seed):
    rng = np.random.default_rng(seed)
    candidates = sorted(rng.choice(np.arange(8, 200, 8), rng.integers(3, 10), replace=False).tolist())
    weights = rng.random(len(candidates)) ** 3  # skewed, some near zero
    probability = dict(zip(candidates, weights / weights.sum(), strict=True))
    for limit in range(1, len(candidates) + 1):
        chosen = widths.fewest_padding(probability, limit)
        assert len(chosen) <= limit and candidates[-1] in chosen and set(chosen) <= set(candidates)
        best = min(_expected_width(subset + (candidates[-1],), probability)
                   for size in range(limit) for subset in itertools.combinations(candidates[:-1], size))
        assert _expected_width(chosen, probability) == pytest.approx(best, rel=1e-12)


def test_no_limit_is_every_multiple_up_to_the_longest_row():
    lengths = np.array([3, 17, 40, 41, 90])
    planned = widths.plan_shuffled(lengths, 4, 128, 16, 0)
    assert planned == (16, 32, 48, 64, 80, 96)
    assert all(widths.fit(n, planned) == widths.bucket_width(n, 128, 16) for n in range(1, 91))
    assert widths.plan_shuffled(lengths, 4, 128, 0, 4) == (128,)  # multiple 0: always max_length
    assert [widths.bucket_width(n, 128, 32) for n in (1, 32, 33, 100, 128)] == [32, 32, 64, 128, 128]


def test_planned_widths_pad_mrpc_like_batches_nearly_as_little_as_their_longest_rows():
    """Shuffled batches of 32 MRPC-like pairs: four planned multiples of 8 against every multiple of 32 (the
    loader's earlier rule) and against padding each batch to its own longest row (HF's collator)."""
    from bert_jax.bench.finetune_bench import MRPC_LENGTH_PERCENTILES, like_lengths

    lengths = like_lengths(np.random.default_rng(0), 3668, MRPC_LENGTH_PERCENTILES)
    planned = widths.plan_shuffled(lengths, 32, 128, 8, 4)
    every_32 = widths.plan_shuffled(lengths, 32, 128, 32, 0)
    tokens = {"planned": 0, "x32": 0, "longest": 0}
    rng = np.random.default_rng(1)
    for _ in range(3):
        order = rng.permutation(len(lengths))
        for start in range(0, len(order), 32):
            longest, rows = lengths[order[start:start + 32]].max(), len(order[start:start + 32])
            tokens["planned"] += widths.fit(longest, planned) * rows
            tokens["x32"] += widths.fit(longest, every_32) * rows
            tokens["longest"] += longest * rows
    assert len(planned) == 4 and all(w % 8 == 0 for w in planned)
    assert tokens["planned"] < 1.08 * tokens["longest"]
    assert tokens["planned"] < 0.9 * tokens["x32"]


def _features(lengths, max_len=128):
    lengths = np.asarray(lengths)
    mask = (np.arange(max_len)[None] < lengths[:, None]).astype(np.int32)
    arrays = {"input_ids": mask * (np.arange(len(lengths))[:, None] + 1), "token_type_ids": np.zeros_like(mask),
              "attention_mask": mask, "labels": np.arange(len(lengths))}
    return Features(arrays, lengths)


def test_loaders_pad_each_batch_to_a_planned_width_that_holds_it():
    features = _features(np.random.default_rng(0).integers(5, 120, 300))
    stream = TrainBatches(features, 16, seed=1, max_length=128, multiple=8, max_widths=3)
    assert len(stream.widths) == 3
    used = set()
    for k in range(60):
        batch, longest = stream[k], features.lengths[stream.indices(k)].max()
        width = batch["input_ids"].shape[1]
        used.add(width)
        assert width in stream.widths and width >= longest
        assert all(w < longest for w in stream.widths if w < width)  # the narrowest that holds it
        assert np.all(batch["attention_mask"].sum(1) == features.lengths[stream.indices(k)])  # nothing real cut
    assert len(used) <= 3
    hosts = [TrainBatches(features, 16, 1, 128, 8, process_index=p, process_count=2, max_widths=3)[7]
             for p in range(2)]
    assert np.array_equal(np.concatenate([h["labels"] for h in hosts]), stream[7]["labels"])

    evaluation = EvalBatches(features, 16, max_length=128, multiple=8, max_widths=3)
    assert len(evaluation.widths) <= 3
    for k in range(len(evaluation)):
        real = evaluation[k]["example_index"] >= 0
        width = evaluation[k]["input_ids"].shape[1]
        assert width in evaluation.widths
        assert width >= features.lengths[evaluation[k]["example_index"][real]].max()


@pytest.mark.parametrize("name", ["max_widths", "pad_to_multiple_of"])
def test_a_negative_width_setting_is_refused(name):
    from bert_jax import run_plan
    from bert_jax.config_base import finetuning_config

    config = finetuning_config("glue")
    config.data[name] = -8
    with pytest.raises(ValueError, match=f"config.data.{name}=-8; expected an integer ≥ 0"):
        run_plan.check_run_settings(config)
