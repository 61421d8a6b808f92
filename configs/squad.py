"""SQuAD v1.1 and v2.0: ``squad.py:version=1`` (default) or ``squad.py:version=2``.

    python -m bert_jax.main --config=configs/squad.py:version=1 --workdir=runs/squad1 \
        --config.init_from=/ckpt/bert-base-uncased --config.data.dir=squad

``data.dir`` holds train-v1.1.json and dev-v1.1.json (v2: train-v2.0.json, dev-v2.0.json; other
names through ``data.train_file`` / ``data.dev_file``), or ``--config.data.source=tfds`` reads TFDS
``squad/v1.1`` / ``squad/v2.0``. ``data.train_articles='0:16'`` and ``data.dev_articles='16:24'``
take slices of the articles, e.g. to train and evaluate on different articles of one file.

Windows: max_seq_length 384, task.doc_stride 128 (the step between window starts, as in Google's
run_squad), max_query_length 64. Answers: n_best_size 20, max_answer_length 30.

The paper's recipes (the defaults): v1.1 3 epochs, lr 5e-5, batch 32 (BERT-base dev EM/F1 80.8/88.5;
Google's README: batch 12, lr 3e-5, 2 epochs → 81.25/88.41). v2.0 2 epochs, lr 5e-5, batch 48
(BERT-large dev EM/F1 78.7/81.9). v2.0: the question is unanswered when the null odds exceed
``task.null_score_diff_threshold``; every evaluation reports best_f1 and best_f1_thresh, the threshold
that would have been best on that split (Google's README: typically between -1 and -5), and
``task.use_best_threshold=True`` applies it to the predictions.

Results: eval_results.json (exact, f1; v2.0 also HasAns_/NoAns_ and best_*), predictions/dev/
predictions.json, nbest_predictions.json, null_odds.json (v2.0: evaluate-v2.0.py --na-prob-file).
``:runlocal`` is a tiny CPU smoke run.
"""

from bert_jax.config_base import finetuning_config, parse_arg, runlocal


def get_config(arg=None):
    args = parse_arg(arg, version=1, runlocal=False)
    if args.version not in (1, 2):
        raise ValueError(f"configs/squad.py: version={args.version}; expected 1 or 2")
    c = finetuning_config("squad")
    c.task.subtask = "v1.1" if args.version == 1 else "v2.0"
    c.data.train_file = f"train-{c.task.subtask}.json"
    c.data.dev_file = f"dev-{c.task.subtask}.json"
    c.data.train_articles = ""  # 'start:stop': a slice of the train file's articles ('' = all)
    c.data.dev_articles = ""
    c.data.max_seq_length = 384
    c.eval_batch_size = 64
    if args.version == 1:
        c.num_train_epochs, c.optim.learning_rate, c.batch_size = 3.0, 5e-5, 32
    else:
        c.num_train_epochs, c.optim.learning_rate, c.batch_size = 2.0, 5e-5, 48
    if args.runlocal:
        runlocal(c)
        c.data.max_seq_length, c.task.doc_stride, c.task.max_query_length = 64, 16, 16
    return c
