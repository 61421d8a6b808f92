"""SWAG multiple choice (4 endings): the released train.csv / val.csv (/ test.csv) in ``data.dir``.

    python -m bert_jax.main --config=configs/swag.py --workdir=runs/swag \
        --config.init_from=/ckpt/bert-base-uncased --config.data.dir=swagaf/data

The paper's recipe: 3 epochs, lr 2e-5, batch 16 (BERT-base dev acc 81.6, large 86.6). Each choice
is [CLS] sent1 [SEP] sent2 ending [SEP]; max_seq_length 128 (HF run_swag uses 128 as well).
Results: eval_results.json (accuracy), predictions/dev.csv (and test.csv when given).
``:runlocal`` is a tiny CPU smoke run.
"""

from bert_jax.config_base import finetuning_config, parse_arg, runlocal


def get_config(arg=None):
    args = parse_arg(arg, runlocal=False)
    c = finetuning_config("swag")
    c.optim.learning_rate = 2e-5
    c.batch_size = 16
    if args.runlocal:
        runlocal(c)
    return c
