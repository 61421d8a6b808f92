"""bert_jax's fine-tuning step against HF transformers + PyTorch on the same batches: one truth for the
model, the classification loss, AdamW (bias correction, eps, decoupled weight decay and which params it
skips), the global-norm clip and the warmup/decay schedule together. Dropout is off, so what is left
between the two is float32 rounding (experiments/2026-11-22-finetune-vs-hf: the same comparison over a
full MRPC run)."""

from __future__ import annotations

import os
import types

import jax
import numpy as np

import bert_jax
from bert_jax.convert import encoder_names, head_names, to_hf_tensors
from bert_jax.models.config import BertConfig
from bert_jax.models.heads import BertWithHead, SequenceClassificationHead
from bert_jax.optim import create_optimizer, warmup_then_decay
from bert_jax.step import TrainState, train_step
from bert_jax.tasks.glue import classification_inputs, classification_loss

STEPS, WARMUP, LR, BATCH, SEQ, LABELS = 8, 2, 1e-3, 8, 16, 3
CLIP = 0.5  # between the gradient norms of these steps (0.35-0.7): some steps are clipped, some not


def _batches(vocab: int) -> list[dict]:
    """Random rows with padding of varied length, two segments and labels."""
    rng = np.random.default_rng(0)
    out = []
    for _ in range(STEPS):
        lengths = rng.integers(4, SEQ + 1, BATCH)
        mask = (np.arange(SEQ)[None, :] < lengths[:, None]).astype(np.int32)
        out.append({"input_ids": rng.integers(1, vocab, (BATCH, SEQ)).astype(np.int32) * mask,
                    "token_type_ids": (np.arange(SEQ)[None, :] >= lengths[:, None] // 2).astype(np.int32) * mask,
                    "attention_mask": mask, "labels": rng.integers(0, LABELS, BATCH).astype(np.int32)})
    return out


def test_fine_tuning_steps_match_transformers_on_the_same_batches(tmp_path, torch_transformers):
    torch, transformers = torch_transformers
    hf_config = transformers.BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                        intermediate_size=37, max_position_embeddings=64, num_labels=LABELS,
                                        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    torch.manual_seed(0)
    hf = transformers.BertForSequenceClassification(hf_config)
    with torch.no_grad():  # HF initialises biases and the classifier to 0/N(0, 0.02): make every tensor matter
        for p in hf.parameters():
            p.add_(0.02 * torch.randn_like(p))
    hf.save_pretrained(tmp_path)
    initial = {k: v.detach().numpy().copy() for k, v in hf.state_dict().items()}

    config = BertConfig.from_json_file(os.path.join(tmp_path, "config.json"))
    head = SequenceClassificationHead(config, num_labels=LABELS)
    _, params = bert_jax.from_pretrained(str(tmp_path), head=head)
    np.testing.assert_array_equal(params["head"]["classifier"]["kernel"], hf.classifier.weight.detach().numpy().T)
    model = BertWithHead(config, head)
    tx = create_optimizer("adamw", warmup_then_decay(LR, WARMUP, STEPS, "linear_after_warmup"), weight_decay=0.01,
                          eps=1e-6, clip_norm=CLIP)
    task = types.SimpleNamespace(inputs=classification_inputs, loss=classification_loss)
    step = jax.jit(lambda s, b: train_step(s, b, model=model, task=task, tx=tx))
    state = TrainState(np.int32(0), params, tx.init(params), jax.random.PRNGKey(0))

    decay = [p for n, p in hf.named_parameters() if not (n.endswith("bias") or "LayerNorm" in n)]
    no_decay = [p for n, p in hf.named_parameters() if n.endswith("bias") or "LayerNorm" in n]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=LR, eps=1e-6)
    schedule = transformers.get_linear_schedule_with_warmup(opt, WARMUP, STEPS)
    hf.train()

    ours, theirs, norms = [], [], []
    for batch in _batches(hf_config.vocab_size):
        state, metrics = step(state, batch)
        ours.append(float(metrics["loss"]))
        norms.append(float(metrics["grad_norm"]))
        loss = hf(**{k: torch.from_numpy(v.astype(np.int64)) for k, v in batch.items()}).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(hf.parameters(), CLIP)
        opt.step()
        schedule.step()
        opt.zero_grad()
        theirs.append(float(loss.detach()))

    assert min(norms) < CLIP < max(norms)  # both branches of the clip
    np.testing.assert_allclose(ours, theirs, rtol=2e-5)
    final = {**to_hf_tensors(state.params["bert"], encoder_names("bert", "bert.")),
             **to_hf_tensors(state.params["head"], head_names("bert", state.params["head"]))}
    reference = {k: v.detach().numpy() for k, v in hf.state_dict().items() if k in final}
    assert len(reference) == len(final) == sum(1 for _ in hf.parameters())
    for name, value in reference.items():
        np.testing.assert_allclose(final[name], value, rtol=0, atol=2e-6, err_msg=name)
    # The steps moved the weights far beyond that tolerance: the comparison is not of no-ops. (Not the key
    # biases: q·b_k adds the same logit to every key of a query, which softmax ignores, so their gradient
    # is 0 and, outside weight decay, they stay put.)
    moved = {name: float(np.max(np.abs(value - initial[name]))) for name, value in reference.items()
             if not name.endswith("attention.self.key.bias")}
    assert len(moved) == len(reference) - hf_config.num_hidden_layers
    assert min(moved.values()) > 1e-4, min(moved.items(), key=lambda item: item[1])
