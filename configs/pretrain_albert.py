"""ALBERT pretraining (Lan et al. 2020, "ALBERT: A Lite BERT for Self-supervised Learning of Language
Representations"), the v2 recipe.

    python -m bert_jax.main --config=configs/pretrain_albert.py --workdir=gs://bucket/albert \\
        --config.data.paths='gs://bucket/corpus/*.txt'

The paper's changes to BERT, each a setting here:
  - Factorised embeddings: E=128 wide, projected to the hidden size (model.embedding_size, §3.1).
  - Cross-layer parameter sharing: one layer's params applied L times (model.share_layers).
  - Sentence-order prediction instead of NSP: two consecutive segments, swapped half the time
    (data.sentence_task='sop', §3.1); the MLM targets are n-grams of up to 3 words, p(n) ∝ 1/n
    (data.max_ngram=3, §4.1).
  - No dropout (v2), 30K SentencePiece vocab (data.vocab_type='albert_sentencepiece'), lowercased.
  - LAMB, lr 0.00176, batch 4096, 125k steps with 3,125 warmup, sequences of 512 (10% shorter, §4.1).
Args: ``size=base|large|xlarge|xxlarge|tiny`` (tiny: the quickstart's CPU scale with E=64, for experiments/),
``runlocal`` (a 20-step tiny smoke run). Expected at tiny scale: see experiments/2026-11-28-family-recipes.
"""

from bert_jax.config_base import cpu_pretraining_scale, parse_arg, pretraining_config


def get_config(arg=None):
    args = parse_arg(arg, size="base", runlocal=False)
    c = pretraining_config()
    size = "tiny" if args.runlocal else args.size
    c.model.model_type = "albert"
    c.model.share_layers = True
    c.model.hidden_act = "gelu_new"
    c.data.sentence_task = "sop"
    c.data.max_ngram = 3
    c.data.vocab_type = "albert_sentencepiece"
    if size == "tiny":
        cpu_pretraining_scale(c, args.runlocal)
        c.model.embedding_size = 64
    else:
        c.model.preset = f"albert-{size}-v2"
        c.model.hidden_dropout_prob = c.model.attention_probs_dropout_prob = 0.0
        c.data.vocab_size = 30000
        c.data.max_seq_length, c.data.max_predictions_per_seq = 512, 20
        c.optim.update(name="lamb", learning_rate=0.00176, warmup_steps=3125, weight_decay=0.01)
        c.batch_size = 4096
        c.total_steps = 125_000
    return c
