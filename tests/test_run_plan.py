"""How long a run trains (run_plan.schedule_steps), against step counts worked out by hand."""

import types

from tests.test_bad_inputs import load_config_file


def _task(examples: int):
    return types.SimpleNamespace(num_train_examples=examples)


def test_fine_tuning_runs_its_epochs_unless_total_steps_is_given():
    from bert_jax.run_plan import cadence, schedule_steps

    config = load_config_file("glue.py", "rte")  # 3 epochs, batch 32, 10% warmup, total_steps 0
    assert (config.num_train_epochs, config.batch_size, config.total_steps) == (3.0, 32, 0)
    # 100 examples: ceil(3 · 100 / 32) = 10 steps, ceil(100 / 32) = 4 per epoch, round(0.1 · 10) = 1 warmup.
    assert schedule_steps(config, _task(100)) == (10, 1, 4)
    # `--config.total_steps=7` on a fine-tuning config: 7 steps (it used to train the 3 epochs silently);
    # evaluation and checkpoints still come once per epoch.
    config.total_steps = 7
    assert schedule_steps(config, _task(100)) == (7, round(0.1 * 7), 4)
    assert cadence(config, 7, 4).eval_every == 4


def test_pretraining_runs_total_steps():
    from bert_jax.run_plan import schedule_steps

    config = load_config_file("pretrain_tiny.py", "")  # 1,300 steps, 100 of warmup, no epochs
    assert schedule_steps(config, _task(10**6)) == (1300, 100, 0)
