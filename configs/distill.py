"""Distillation, DistilBERT's recipe (Sanh et al. 2019, "DistilBERT, a distilled version of BERT").

    python -m bert_jax.main --config=configs/distill.py --workdir=runs/distil \\
        --config.distill.teacher=/ckpt/bert-base-uncased --config.data.paths='corpus/*.txt'

The teacher is an HF directory, a Google TF1 checkpoint directory or a bert_jax workdir, with its MLM head and
its tokenizer (the student reads the teacher's token ids; a config.data.vocab that differs is refused). The
student has every other teacher layer (6 of BERT-base's 12) and starts from them, in DistilBERT's architecture
for a BERT teacher (no token types, no pooler), in the teacher's otherwise (distilroberta). The paper's settings:
  - loss = 5.0 · soft-target cross-entropy (KL at temperature 2, masked positions) + 2.0 · MLM
    + 1.0 · cosine alignment of the last hidden states (distill.alpha_ce / alpha_mlm / alpha_cos, temperature);
  - MLM only (no NSP), dynamic masking, rows up to 512 tokens (FULL-SENTENCES here);
  - batches of ~4K examples (gradient accumulation), Adam lr 5e-4, ε 1e-6, no weight decay, 5% warmup,
    gradients clipped at 5.0, 3 epochs of the BERT corpus.
The teacher runs in the same jitted step, forward only. Args: ``size=base|tiny`` (tiny: the quickstart's
CPU scale; the student of a 4-layer teacher has 2), ``runlocal`` (a 20-step smoke run; give the teacher).
Expected at tiny scale: experiments/2026-11-28-distillation.
"""

import ml_collections

from bert_jax.config_base import cpu_pretraining_scale, parse_arg, pretraining_config


def get_config(arg=None):
    args = parse_arg(arg, size="base", runlocal=False)
    c = pretraining_config()
    c.task.name = "distill"
    c.distill = ml_collections.ConfigDict(dict(
        teacher="",  # HF dir | TF checkpoint dir | bert_jax workdir, with MLM head and tokenizer (required)
        student_layers=0,  # 0: half the teacher's (every other layer)
        # auto: DistilBERT's architecture (no token types, no pooler) for a BERT teacher, else the teacher's
        # (a RoBERTa teacher's student is RoBERTa: distilroberta) | distilbert | teacher
        student_type="auto",
        temperature=2.0,
        alpha_ce=5.0,
        alpha_mlm=2.0,
        alpha_cos=1.0,
    ))
    c.data.sentence_task = "none"
    c.data.dynamic_masking = True
    c.model.preset = "base"  # unused: the student's size comes from the teacher
    if args.runlocal or args.size == "tiny":
        cpu_pretraining_scale(c, args.runlocal)
        c.model.preset = "tiny"
    else:
        c.data.max_seq_length, c.data.max_predictions_per_seq = 512, 80
        c.batch_size = 4096
        c.optim.update(name="adamw", learning_rate=5e-4, eps=1e-6, weight_decay=0.0, clip_norm=5.0,
                       warmup_fraction=0.05, warmup_steps=0)
        c.total_steps = 100_000
    return c
