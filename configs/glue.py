"""GLUE fine-tuning, one file for every task: ``glue.py:task=rte`` (or ``glue.py:rte``).

    python -m bert_jax.main --config=configs/glue.py:rte --workdir=runs/rte \
        --config.init_from=/ckpt/bert-base-uncased --config.data.dir=glue_data/RTE

Tasks: cola (Matthews corr), sst2 (acc), mrpc (F1, acc), stsb (Pearson, Spearman; regression head),
qqp (F1, acc), mnli (acc on dev_matched and dev_mismatched in one run; test predictions for MNLI-m,
MNLI-mm and AX), qnli, rte, wnli (acc). ``data.dir`` is the task's glue_data folder (the released TSV
files), or ``--config.data.source=tfds`` reads TFDS ``glue/<task>``.

The paper's recipe (the defaults): batch 32, 3 epochs, lr picked on dev from {5e-5, 4e-5, 3e-5, 2e-5}
(``python -m bert_jax.sweep`` runs that grid over seeds), 10% warmup, dropout 0.1, max_seq_length 128.
Expected dev for BERT-base: MNLI-m 84.4, QNLI 88.4, MRPC F1 86.7, SST-2 92.7 (paper Table 5); HF's
bert-base-cased 5-seed means: CoLA 59.0, STS-B Pearson 88.9, RTE 64.8. Small sets vary a lot across
seeds: report mean ± std.

Results: eval_results.json (the best epoch by the task's score: the mean of its metrics), predictions/
dev.tsv and, when the folder has test.tsv, predictions/glue/<Task>.tsv in the leaderboard's format.
``:runlocal`` is a tiny CPU smoke run.
"""

from bert_jax.config_base import finetuning_config, parse_arg, runlocal


def get_config(arg=None):
    args = parse_arg(arg, positional="task", task="rte", runlocal=False)
    c = finetuning_config("glue")
    c.task.subtask = args.task
    if args.runlocal:
        runlocal(c)
    return c
