"""BERT-base pretraining, the paper's recipe (Devlin et al. 2018, App. A.2; google-research/bert README).

Phase 1 (90% of steps, seq 128):
    python -m bert_jax.main --config=configs/pretrain_base.py --workdir=runs/base_p1 \\
        --config.data.paths='/data/corpus/*.txt' --config.data.vocab=/data/vocab.txt
Phase 2 (10%, seq 512, continuing from phase 1's encoder and heads):
    python -m bert_jax.main --config=configs/pretrain_base.py:phase=2 --workdir=runs/base_p2 \\
        --config.init_from=runs/base_p1 ...

Recipe: batch 256 sequences, 1M steps in all (900k at 128, 100k at 512), Adam (Google's, no bias
correction) lr 1e-4, β 0.9/0.999, weight decay 0.01, 10k warmup, linear decay, dropout 0.1, GELU;
max_predictions_per_seq 20 at 128 and 80 at 512. The corpus (BooksCorpus + Wikipedia, one sentence
per line, blank lines between documents) is the user's; expected: MLM accuracy ~70%, NSP 97-98% (paper).
Paths are local (or gcsfuse-mounted): the corpus readers and run logs use plain files.
`:runlocal` shrinks everything to a CPU smoke run on the offline docstring corpus.
"""

from bert_jax.config_base import parse_arg, pretraining_config

PRESET = "base"


def get_config(arg=None):
    args = parse_arg(arg, runlocal=False, phase=1)
    c = pretraining_config()
    c.model.preset = PRESET
    c.data.source = "sentences"
    c.init_head = True  # phase 2 / continued pretraining keep the MLM and NSP heads
    if args.phase == 2:
        c.data.max_seq_length, c.data.max_predictions_per_seq = 512, 80
        c.total_steps, c.optim.warmup_steps = 100_000, 1_000
    else:
        c.total_steps = 900_000
    if args.runlocal:
        c.data.source, c.data.vocab_size = "python_docstrings", 4000
        c.total_steps, c.optim.warmup_steps, c.batch_size, c.eval_batch_size = 4, 2, 8, 8
        c.log_every, c.eval_every, c.ckpt_every, c.eval_batches = 2, 4, 4, 1
        c.data.max_seq_length = min(c.data.max_seq_length, 128)
    return c
