"""CoNLL-2003 NER: train.txt / valid.txt (/ test.txt) in ``data.dir`` (4 columns: word POS chunk NER).

    python -m bert_jax.main --config=configs/ner.py --workdir=runs/ner \
        --config.init_from=/ckpt/bert-base-cased --config.data.dir=conll2003

The label is predicted on each word's first sub-word (others ignored); entity F1 as conlleval.
``task.tag_scheme=iob1`` for the original eng.* files; ``task.document_context=True`` fills each
window with the neighbouring sentences of the document, as the paper does (dev F1 96.4 for
BERT-base, 96.6 for large, cased WordPiece; without document context the anchors fall short of it).
The paper uses a cased model: with a Google TF checkpoint directory (no tokenizer_config.json) add
``--config.data.lowercase=False`` (HF directories say it in tokenizer_config.json).
Recipe: batch 32, 3 epochs, lr 5e-5, 10% warmup, max_seq_length 128. ``:context`` turns document
context on. Results: eval_results.json (precision, recall, f1), predictions/dev.conll. ``:runlocal``
is a tiny CPU smoke run.
"""

from bert_jax.config_base import finetuning_config, parse_arg, runlocal


def get_config(arg=None):
    args = parse_arg(arg, runlocal=False, context=False)
    c = finetuning_config("ner")
    c.task.document_context = args.context
    if args.runlocal:
        runlocal(c)
    return c
