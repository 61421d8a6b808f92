"""Google TF1 checkpoints: written here by TensorFlow under Google's variable names, loaded by bert_jax.

The names below are spelled out by hand from google-research/bert's modeling.py / run_pretraining.py,
independently of convert.tf_name, so a naming mistake there cannot cancel out here.
"""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bert_jax

tf = pytest.importorskip("tensorflow", reason="TF checkpoint import needs the `tf` extra")

LAYER_PARTS = {
    "attention/self/query": "attention.self.query",
    "attention/self/key": "attention.self.key",
    "attention/self/value": "attention.self.value",
    "attention/output/dense": "attention.output.dense",
    "intermediate/dense": "intermediate.dense",
    "output/dense": "output.dense",
}


def google_variables(state: dict, num_layers: int) -> dict:
    """HF BertForPreTraining state dict (numpy) → {Google TF variable name: value}."""
    out = {
        "bert/embeddings/word_embeddings": state["bert.embeddings.word_embeddings.weight"],
        "bert/embeddings/token_type_embeddings": state["bert.embeddings.token_type_embeddings.weight"],
        "bert/embeddings/position_embeddings": state["bert.embeddings.position_embeddings.weight"],
        "bert/embeddings/LayerNorm/gamma": state["bert.embeddings.LayerNorm.weight"],
        "bert/embeddings/LayerNorm/beta": state["bert.embeddings.LayerNorm.bias"],
        "bert/pooler/dense/kernel": state["bert.pooler.dense.weight"].T,
        "bert/pooler/dense/bias": state["bert.pooler.dense.bias"],
        "cls/predictions/transform/dense/kernel": state["cls.predictions.transform.dense.weight"].T,
        "cls/predictions/transform/dense/bias": state["cls.predictions.transform.dense.bias"],
        "cls/predictions/transform/LayerNorm/gamma": state["cls.predictions.transform.LayerNorm.weight"],
        "cls/predictions/transform/LayerNorm/beta": state["cls.predictions.transform.LayerNorm.bias"],
        "cls/predictions/output_bias": state["cls.predictions.bias"],
        "cls/seq_relationship/output_weights": state["cls.seq_relationship.weight"],  # [2, H] as in TF
        "cls/seq_relationship/output_bias": state["cls.seq_relationship.bias"],
    }
    for i in range(num_layers):
        for tf_part, hf_part in LAYER_PARTS.items():
            out[f"bert/encoder/layer_{i}/{tf_part}/kernel"] = state[f"bert.encoder.layer.{i}.{hf_part}.weight"].T
            out[f"bert/encoder/layer_{i}/{tf_part}/bias"] = state[f"bert.encoder.layer.{i}.{hf_part}.bias"]
        for tf_part, hf_part in (("attention/output/LayerNorm", "attention.output.LayerNorm"),
                                 ("output/LayerNorm", "output.LayerNorm")):
            out[f"bert/encoder/layer_{i}/{tf_part}/gamma"] = state[f"bert.encoder.layer.{i}.{hf_part}.weight"]
            out[f"bert/encoder/layer_{i}/{tf_part}/beta"] = state[f"bert.encoder.layer.{i}.{hf_part}.bias"]
    return out


def write_tf1_checkpoint(directory, variables: dict, bert_config: dict) -> None:
    """A name-based TF1 checkpoint as run_pretraining.py saves it, Adam slots and global_step included."""
    graph = tf.Graph()
    with graph.as_default():
        tf_vars = [tf.compat.v1.Variable(v, name=n) for n, v in variables.items()]
        tf_vars += [tf.compat.v1.Variable(np.zeros_like(v), name=f"{n}/adam_m") for n, v in variables.items()]
        tf_vars.append(tf.compat.v1.Variable(np.int64(1000), name="global_step"))
        saver = tf.compat.v1.train.Saver(tf_vars)
        with tf.compat.v1.Session(graph=graph) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            saver.save(sess, str(directory / "bert_model.ckpt"), write_meta_graph=False)
    (directory / "bert_config.json").write_text(json.dumps(bert_config))


def test_tf1_checkpoint_matches_hf_format(tmp_path, torch_transformers):
    torch, transformers = torch_transformers
    torch.manual_seed(0)
    hf_config = transformers.BertConfig(vocab_size=120, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                        intermediate_size=96, max_position_embeddings=40, hidden_act="gelu")
    hf = transformers.BertForPreTraining(hf_config).eval()
    hf_dir, tf_dir = tmp_path / "hf", tmp_path / "tf"
    tf_dir.mkdir()
    hf.save_pretrained(hf_dir)
    state = {k: v.numpy() for k, v in hf.state_dict().items()}
    google_config = {k: getattr(hf_config, k) for k in (
        "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "hidden_act",
        "hidden_dropout_prob", "attention_probs_dropout_prob", "max_position_embeddings", "type_vocab_size",
        "initializer_range")}
    write_tf1_checkpoint(tf_dir, google_variables(state, 2), google_config)

    tf_model, tf_params = bert_jax.from_pretrained(str(tf_dir), head="pretraining")
    _, hf_params = bert_jax.from_pretrained(str(hf_dir), head="pretraining")
    jax.tree_util.tree_map(np.testing.assert_array_equal, tf_params, hf_params)
    assert tf_params["head"]["seq_relationship"]["kernel"].shape == (64, 2)

    # Google's "gelu" is the tanh form: the TF-loaded model equals HF run with gelu_new.
    assert tf_model.config.gelu_approximate
    hf_tanh = transformers.BertForPreTraining.from_pretrained(hf_dir, hidden_act="gelu_new").eval()
    ids = np.random.default_rng(0).integers(1, 120, (2, 10))
    with torch.no_grad():
        ref = hf_tanh(input_ids=torch.tensor(ids))
    out = tf_model.apply({"params": tf_params}, jnp.asarray(ids))
    np.testing.assert_allclose(out["mlm_logits"], ref.prediction_logits.numpy(), atol=1e-4)
    np.testing.assert_allclose(out["nsp_logits"], ref.seq_relationship_logits.numpy(), atol=1e-4)


def test_tf1_checkpoint_missing_variable_is_named(tmp_path):
    rng = np.random.default_rng(0)
    H, V = 8, 20
    config = dict(vocab_size=V, hidden_size=H, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16,
                  max_position_embeddings=12, type_vocab_size=2, hidden_act="gelu")
    variables = {"bert/embeddings/word_embeddings": rng.normal(size=(V, H)).astype(np.float32)}
    write_tf1_checkpoint(tmp_path, variables, config)
    with pytest.raises(KeyError, match="TF variable 'bert/embeddings/position_embeddings'.*missing"):
        bert_jax.from_pretrained(str(tmp_path))
