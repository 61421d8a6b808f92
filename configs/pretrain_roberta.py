"""RoBERTa pretraining (Liu et al. 2019, "RoBERTa: A Robustly Optimized BERT Pretraining Approach").

    python -m bert_jax.main --config=configs/pretrain_roberta.py --workdir=gs://bucket/roberta \\
        --config.data.paths='gs://bucket/corpus/*.txt'

The paper's changes to BERT's recipe, each a setting here:
  - MLM only, no NSP (data.sentence_task='none'): rows are FULL-SENTENCES, sentences read contiguously across
    document ends (an extra </s> marks each end) up to 512 tokens (§4.2, Table 2).
  - Dynamic masking: a fresh mask every time a row is seen (data.dynamic_masking, §4.1).
  - Large batches: 8K sequences of 512 tokens, peak lr 6e-4 (base; 4e-4 large), linear warmup over 24k (30k)
    steps then linear decay, 500k steps (§4.3, Table 9).
  - Adam β1 0.9, β2 0.98 (stabler with large batches), ε 1e-6, weight decay 0.01, dropout 0.1, GELU.
  - A 50K byte-level BPE vocab, cased, no unknown token (data.vocab_type='byte_bpe', §4.4); positions
    numbered from pad_token_id + 1 (max_position_embeddings 514), one token type.
Args: ``size=base|large|tiny`` (tiny: the quickstart's CPU scale, for experiments/), ``runlocal`` (a 20-step
tiny smoke run). Expected at tiny scale (2-core CPU, ~5 min): held-out MLM accuracy in
experiments/2026-11-28-family-recipes.
"""

from bert_jax.config_base import cpu_pretraining_scale, parse_arg, pretraining_config


def get_config(arg=None):
    args = parse_arg(arg, size="base", runlocal=False)
    c = pretraining_config()
    size = "tiny" if args.runlocal else args.size
    c.model.model_type = "roberta"
    c.model.type_vocab_size = 1
    c.model.layer_norm_eps = 1e-5
    c.data.sentence_task = "none"
    c.data.vocab_type = "byte_bpe"
    c.data.lowercase = False  # byte-level BPE is cased
    c.data.dynamic_masking = True
    c.optim.update(name="adamw", b1=0.9, b2=0.98, eps=1e-6, weight_decay=0.01)
    if size == "tiny":
        cpu_pretraining_scale(c, args.runlocal)
        c.data.vocab_size = 8000
    else:
        c.model.preset = f"roberta-{size}"
        c.data.vocab_size = 50265
        c.data.max_seq_length = 512
        c.data.max_predictions_per_seq = 80  # 15% of 512
        c.batch_size = 8192
        c.total_steps = 500_000
        c.optim.learning_rate, c.optim.warmup_steps = (6e-4, 24_000) if size == "base" else (4e-4, 30_000)
    # Position rows 0 and 1 are pad_token_id's and below: 2 more than the longest row.
    c.model.max_position_embeddings = c.data.max_seq_length + 2
    return c
