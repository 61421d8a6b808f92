"""RoBERTa, ALBERT and DistilBERT: parity with transformers (fp32, eval, random-initialised small models,
padded batches), export back to transformers, and the errors a family's directory can raise."""

import json
import os

import numpy as np
import pytest

import bert_jax
from bert_jax.models.config import BertConfig

PAD_ROWS = {1: 7, 2: 4}  # row → its first pad position


def _hf_config(transformers, family):
    common = dict(vocab_size=99, num_hidden_layers=3, num_attention_heads=4, intermediate_size=37,
                  max_position_embeddings=40)
    if family == "roberta":  # roberta-base's own settings: one token type, pad 1 (positions from 2), eps 1e-5
        return transformers.RobertaConfig(hidden_size=64, type_vocab_size=1, pad_token_id=1, layer_norm_eps=1e-5,
                                          **common)
    if family == "albert":  # factorised: E=16 < H=64; tanh GELU as ALBERT's configs say
        return transformers.AlbertConfig(embedding_size=16, hidden_size=64, hidden_act="gelu_new", **common)
    return transformers.DistilBertConfig(dim=64, n_layers=3, n_heads=4, hidden_dim=37, vocab_size=99,
                                         max_position_embeddings=40)


def _classes(transformers, family):
    """(base model, model with its pretraining heads)."""
    return {"roberta": (transformers.RobertaModel, transformers.RobertaForMaskedLM),
            "albert": (transformers.AlbertModel, transformers.AlbertForPreTraining),
            "distilbert": (transformers.DistilBertModel, transformers.DistilBertForMaskedLM)}[family]


def _padded_batch(pad_id, types=False):
    """input_ids [3, 11] with rows 1 and 2 padded (pad_id), attention_mask; token types 0/1 with ``types``."""
    ids = np.random.default_rng(0).integers(5, 99, size=(3, 11))
    mask = np.ones_like(ids)
    for row, start in PAD_ROWS.items():
        mask[row, start:] = 0
    ids[mask == 0] = pad_id
    token_types = np.zeros_like(ids)
    if types:
        token_types[:, 5:] = 1
    return ids, mask, token_types * mask


def _saved_hf_model(torch, transformers, family, with_heads, directory):
    torch.manual_seed(0)
    config = _hf_config(transformers, family)
    model = _classes(transformers, family)[with_heads](config).eval()
    model.save_pretrained(directory)
    return model, config


def _hf_outputs(torch, model, ids, mask, types, family):
    kwargs = dict(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask))
    if family == "albert":
        kwargs["token_type_ids"] = torch.tensor(types)
    with torch.no_grad():
        return model(**kwargs)


def _ours(model, params, ids, mask, types, family):
    return model.apply({"params": params}, ids, token_type_ids=types if family == "albert" else None,
                       attention_mask=mask)


@pytest.mark.parametrize("family", ["roberta", "albert", "distilbert"])
def test_encoder_matches_transformers(torch_transformers, tmp_path, family):
    """Last hidden states at every position (pads included) within 1e-4 of transformers' base model; the
    pooled output too where the family has a pooler."""
    torch, transformers = torch_transformers
    hf, config = _saved_hf_model(torch, transformers, family, False, tmp_path)
    ids, mask, types = _padded_batch(config.pad_token_id, types=family == "albert")
    model, params = bert_jax.from_pretrained(str(tmp_path))
    assert model.config.model_type == family
    ours = _ours(model, params, ids, mask, types, family)
    ref = _hf_outputs(torch, hf, ids, mask, types, family)
    np.testing.assert_allclose(ours.sequence_output, ref.last_hidden_state.numpy(), atol=1e-4, rtol=0)
    if family == "distilbert":
        assert ours.pooled_output is None
    else:
        np.testing.assert_allclose(ours.pooled_output, ref.pooler_output.numpy(), atol=1e-4, rtol=0)


@pytest.mark.parametrize("family", ["roberta", "albert", "distilbert"])
def test_pretraining_heads_match_transformers(torch_transformers, tmp_path, family):
    """MLM logits (and ALBERT's SOP logits) within 1e-4 of RobertaForMaskedLM, AlbertForPreTraining,
    DistilBertForMaskedLM; RoBERTa and DistilBERT have no sentence head."""
    torch, transformers = torch_transformers
    hf, config = _saved_hf_model(torch, transformers, family, True, tmp_path)
    ids, mask, types = _padded_batch(config.pad_token_id, types=family == "albert")
    model, params = bert_jax.from_pretrained(str(tmp_path), head="pretraining")
    ours = _ours(model, params, ids, mask, types, family)
    ref = _hf_outputs(torch, hf, ids, mask, types, family)
    hf_mlm = ref.prediction_logits if family == "albert" else ref.logits
    np.testing.assert_allclose(ours["mlm_logits"], hf_mlm.numpy(), atol=1e-4, rtol=0)
    if family == "albert":
        np.testing.assert_allclose(ours["nsp_logits"], ref.sop_logits.numpy(), atol=1e-4, rtol=0)
    else:
        assert "nsp_logits" not in ours


@pytest.mark.parametrize("family", ["roberta", "albert", "distilbert"])
@pytest.mark.parametrize("with_heads", [False, True])
def test_export_reloads_in_transformers(torch_transformers, tmp_path, family, with_heads):
    """save_pretrained → transformers' Auto class reloads the family's model with no missing or unexpected
    tensors and the same outputs within 1e-5."""
    torch, transformers = torch_transformers
    _, config = _saved_hf_model(torch, transformers, family, with_heads, tmp_path / "hf")
    head = "pretraining" if with_heads else None
    model, params = bert_jax.from_pretrained(str(tmp_path / "hf"), head=head)
    bert_jax.save_pretrained(params, model.config, str(tmp_path / "out"))
    saved = json.load(open(tmp_path / "out" / "config.json"))
    assert saved["model_type"] == family
    auto = transformers.AutoModelForPreTraining if with_heads else transformers.AutoModel
    reloaded, info = auto.from_pretrained(str(tmp_path / "out"), output_loading_info=True)
    assert type(reloaded) is _classes(transformers, family)[with_heads]
    assert not info["missing_keys"] and not info["unexpected_keys"], info
    ids, mask, types = _padded_batch(config.pad_token_id, types=family == "albert")
    ours = _ours(model, params, ids, mask, types, family)
    ref = _hf_outputs(torch, reloaded.eval(), ids, mask, types, family)
    if with_heads:
        hf_mlm = ref.prediction_logits if family == "albert" else ref.logits
        np.testing.assert_allclose(ours["mlm_logits"], hf_mlm.numpy(), atol=1e-5, rtol=0)
    else:
        np.testing.assert_allclose(ours.sequence_output, ref.last_hidden_state.numpy(), atol=1e-5, rtol=0)


def test_roberta_positions_count_real_tokens_from_the_pad_id_plus_one():
    """RoBERTa's position rows, computed by hand: a left-padded row gets the same hidden states at its real
    tokens as the unpadded row (positions count non-pad tokens), which BERT's 0..seq-1 would not give."""
    config = BertConfig.preset("roberta-base", vocab_size=50, hidden_size=32, num_hidden_layers=1,
                               num_attention_heads=2, intermediate_size=40, max_position_embeddings=20)
    from bert_jax.convert import build_model, init_params

    model = build_model(config, None)
    params = init_params(model, __import__("jax").random.PRNGKey(0))
    real = np.array([[7, 8, 9, 10]])
    left_padded = np.array([[1, 1, 1, 7, 8, 9, 10]])  # BERT's rows 3..6, RoBERTa's 2..5
    alone = model.apply({"params": params}, real).sequence_output
    padded = model.apply({"params": params}, left_padded, attention_mask=(left_padded != 1).astype(int)).sequence_output
    np.testing.assert_allclose(padded[:, 3:], alone, atol=1e-5)
    as_bert = build_model(config.replace(model_type="bert"), None)
    shifted = as_bert.apply({"params": params}, left_padded, attention_mask=(left_padded != 1).astype(int))
    assert np.abs(np.asarray(shifted.sequence_output[:, 3:]) - np.asarray(alone)).max() > 1e-2


def test_family_presets_have_the_published_parameter_counts():
    """Parameter counts of the published models (their papers and model cards): RoBERTa-base 125M (with
    pooler 124.6M + LM head bias), ALBERT-base 12M, ALBERT-xxlarge 223M, DistilBERT 66M."""
    import jax

    from bert_jax.convert import build_model

    def count(name):
        model = build_model(BertConfig.preset(name), None)
        shapes = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), np.zeros((1, 8), np.int32)))
        return sum(np.prod(x.shape) for x in jax.tree_util.tree_leaves(shapes)) / 1e6

    assert count("roberta-base") == pytest.approx(124.6, abs=0.1)
    assert count("albert-base-v2") == pytest.approx(11.7, abs=0.1)
    assert count("albert-xxlarge-v2") == pytest.approx(222.6, abs=0.5)
    assert count("distilbert-base") == pytest.approx(66.4, abs=0.1)


def test_a_roberta_directory_no_longer_loads_as_bert(torch_transformers, tmp_path):
    """The silent wrong answer of the issue: a RobertaModel directory now reads as RoBERTa (model_type),
    and the BERT reading of the same weights would differ (positions offset by pad_token_id + 1)."""
    torch, transformers = torch_transformers
    _saved_hf_model(torch, transformers, "roberta", False, tmp_path)
    model, params = bert_jax.from_pretrained(str(tmp_path))
    assert model.config.model_type == "roberta" and model.config.position_offset == 2


def test_unsupported_model_type_is_a_clear_error(tmp_path):
    json.dump({"model_type": "gpt2", "vocab_size": 10, "n_embd": 8}, open(tmp_path / "config.json", "w"))
    with pytest.raises(ValueError, match=r"model_type 'gpt2' is not supported; bert_jax reads bert, roberta"):
        bert_jax.from_pretrained(str(tmp_path))


def test_published_config_files_read_as_their_family():
    """The config.json of roberta-base, albert-base-v2 (with Google's legacy no-op keys) and
    distilbert-base-uncased as the hub has them → the family presets of the same sizes."""
    from bert_jax.models.families import from_hf_dict

    roberta = {"architectures": ["RobertaForMaskedLM"], "attention_probs_dropout_prob": 0.1, "bos_token_id": 0,
               "eos_token_id": 2, "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "hidden_size": 768,
               "initializer_range": 0.02, "intermediate_size": 3072, "layer_norm_eps": 1e-05,
               "max_position_embeddings": 514, "model_type": "roberta", "num_attention_heads": 12,
               "num_hidden_layers": 12, "pad_token_id": 1, "type_vocab_size": 1, "vocab_size": 50265}
    albert = {"architectures": ["AlbertForMaskedLM"], "attention_probs_dropout_prob": 0, "bos_token_id": 2,
              "classifier_dropout_prob": 0.1, "down_scale_factor": 1, "embedding_size": 128, "eos_token_id": 3,
              "gap_size": 0, "hidden_act": "gelu_new", "hidden_dropout_prob": 0, "hidden_size": 768,
              "initializer_range": 0.02, "inner_group_num": 1, "intermediate_size": 3072, "layer_norm_eps": 1e-12,
              "layers_to_keep": [], "max_position_embeddings": 512, "model_type": "albert", "net_structure_type": 0,
              "num_attention_heads": 12, "num_hidden_groups": 1, "num_hidden_layers": 12, "num_memory_blocks": 0,
              "pad_token_id": 0, "type_vocab_size": 2, "vocab_size": 30000}
    distilbert = {"activation": "gelu", "architectures": ["DistilBertForMaskedLM"], "attention_dropout": 0.1,
                  "dim": 768, "dropout": 0.1, "hidden_dim": 3072, "initializer_range": 0.02,
                  "max_position_embeddings": 512, "model_type": "distilbert", "n_heads": 12, "n_layers": 6,
                  "pad_token_id": 0, "qa_dropout": 0.1, "seq_classif_dropout": 0.2, "sinusoidal_pos_embds": False,
                  "tie_weights_": True, "vocab_size": 30522}
    assert from_hf_dict(roberta) == BertConfig.preset("roberta-base")
    assert from_hf_dict(albert) == BertConfig.preset("albert-base-v2")
    assert from_hf_dict(distilbert) == BertConfig.preset("distilbert-base")
    with pytest.raises(ValueError, match="gap_size != 0 is not supported"):
        from_hf_dict({**albert, "gap_size": 2})


def test_albert_layer_groups_are_refused(tmp_path):
    json.dump({"model_type": "albert", "num_hidden_groups": 2}, open(tmp_path / "config.json", "w"))
    with pytest.raises(ValueError, match="num_hidden_groups != 1 is not supported"):
        bert_jax.from_pretrained(str(tmp_path))


def test_a_variant_transformers_cannot_build_is_refused_on_export(tmp_path):
    config = BertConfig.preset("tiny", share_layers=True)
    with pytest.raises(ValueError, match="share_layers=True cannot be written as an HF bert config.json"):
        config.to_hf_dict()
    assert not os.path.exists(tmp_path / "config.json")
