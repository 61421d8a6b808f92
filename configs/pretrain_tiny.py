"""Quickstart: a tiny BERT (L2/H128) pretrained offline on the installed Python's standard-library
docstrings (English prose every Python installation has; no download, no third-party text).

    python -m bert_jax.main --config=configs/pretrain_tiny.py --workdir=runs/quick

Trains its own 8k WordPiece vocab, builds NSP pairs (5 dupes), pretrains MLM+NSP for 1,300 steps of 32 × 128 tokens,
evaluates on held-out modules, checkpoints and plots. Measured on a 2-core CPU (2026-12-07, Python 3.11.7's
stdlib, so the vocab and pairs are fixed): 192 s and 194 s from nothing; held-out MLM accuracy 15.04% (seed 0)
and 15.17% (--config.seed=1), far above the most-frequent-token baseline's 5.94% (both in eval_results.json).
1,000 steps stopped at 14.63% (seed 0; 14.5-14.8% by seed before 2026-12-07's change of the products'
summation order): the last 300 steps (~40 s) buy the 15%. At the slowest step time seen on such a machine
(0.2 s) the run would take about 285 s.
No dropout: a model this small on this corpus underfits (train and held-out accuracy move together), so
dropout only slowed it (1,500 steps with dropout 0.1: 508 s and 14.8%, when steps were slower).
Optimizer variants moved the accuracy less than the seed does (docs/performance.md, fifteenth pass).
Running the command again resumes (and, once finished, only re-evaluates). `:runlocal` shrinks it to a
smoke run.
"""

from bert_jax.config_base import cpu_pretraining_scale, parse_arg, pretraining_config


def get_config(arg=None):
    args = parse_arg(arg, runlocal=False)
    return cpu_pretraining_scale(pretraining_config(), args.runlocal, total_steps=1300)
