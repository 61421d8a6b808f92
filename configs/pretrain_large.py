"""BERT-large pretraining (24 layers, 1024 hidden, 16 heads): the same recipe, phases and `:runlocal` as
configs/pretrain_base.py (whose docstring has the commands and the paper's settings), at large size.

    python -m bert_jax.main --config=configs/pretrain_large.py --workdir=runs/large_p1 \\
        --config.data.paths='/data/corpus/*.txt' --config.data.vocab=/data/vocab.txt
    python -m bert_jax.main --config=configs/pretrain_large.py:phase=2 --workdir=runs/large_p2 \\
        --config.init_from=runs/large_p1 ...

The paper trained BERT-large on 64 TPU chips for 4 days; NSP reaches 97-98%.
"""

from bert_jax.config_base import paper_pretraining_config


def get_config(arg=None):
    return paper_pretraining_config("large", arg)
