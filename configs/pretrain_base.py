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

from bert_jax.config_base import paper_pretraining_config


def get_config(arg=None):
    return paper_pretraining_config("base", arg)
