"""pretrained.resolve: the one reader of pretrained directories recognises each layout, finds its encoder
config and tokenizer, and refuses what it cannot describe."""

import json
import os
import shutil

import pytest

import bert_jax
from bert_jax import pretrained
from bert_jax.models.config import BertConfig

GOOGLE_CONFIG = {"attention_probs_dropout_prob": 0.1, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
                 "hidden_size": 128, "initializer_range": 0.02, "intermediate_size": 512,
                 "max_position_embeddings": 512, "num_attention_heads": 2, "num_hidden_layers": 2,
                 "type_vocab_size": 2, "vocab_size": 30522}


def test_hf_directory(minilm_dir):
    source = pretrained.resolve(minilm_dir)
    assert source.layout == "hf" and source.has_tokenizer
    config = source.model_config(hidden_dropout_prob=0.2)
    assert (config.hidden_size, config.num_hidden_layers, config.hidden_dropout_prob) == (384, 6, 0.2)
    assert source.tokenizer().vocab_size == 30522


def test_the_minilm_preset_is_the_checkpoints_architecture(minilm_dir):
    """``BertConfig.preset('minilm-l6')`` (the benchmarks' MiniLM size) is the shipped checkpoint's shape."""
    real, preset = pretrained.resolve(minilm_dir).model_config(), BertConfig.preset("minilm-l6")
    for field in ("num_hidden_layers", "hidden_size", "num_attention_heads", "intermediate_size", "vocab_size"):
        assert getattr(preset, field) == getattr(real, field), field


def test_google_directory_reads_gelu_as_the_tanh_form(tmp_path):
    (tmp_path / "bert_config.json").write_text(json.dumps(GOOGLE_CONFIG))
    source = pretrained.resolve(str(tmp_path))
    assert source.layout == "google" and not source.has_tokenizer
    assert source.model_config().gelu_approximate


def test_workdir_reads_its_model_directory(tmp_path, minilm_dir):
    (tmp_path / "checkpoints").mkdir()
    with pytest.raises(FileNotFoundError, match="a bert_jax workdir without model/config.json"):
        pretrained.resolve(str(tmp_path))
    config = BertConfig.preset("tiny", vocab_size=30522)
    tokenizer = bert_jax.load_tokenizer(minilm_dir)
    pretrained.write_model_dir(str(tmp_path), config, tokenizer)
    source = pretrained.resolve(str(tmp_path))
    assert source.layout == "workdir" and source.model_dir == os.path.join(tmp_path, "model")
    assert source.model_config() == config and source.tokenizer().vocab_size == 30522
    # The first run describes the workdir: a second write changes nothing.
    pretrained.write_model_dir(str(tmp_path), config.replace(hidden_size=256, num_attention_heads=4), None)
    assert source.model_config() == config
    with pytest.raises(ValueError, match="is a bert_jax workdir: start a run from it with --config.init_from"):
        bert_jax.from_pretrained(str(tmp_path))


def test_sentencepiece_model_is_preferred_to_vocab_txt_everywhere(tmp_path, minilm_dir):
    """load_tokenizer, the pretraining vocab hash and pretrained.py agree on which file defines a directory's
    tokenizer (they disagreed before: tokenizer.model was found by one and not the other)."""
    from bert_jax.data.tokenizer import tokenizer_file

    shutil.copy(os.path.join(minilm_dir, "vocab.txt"), tmp_path / "vocab.txt")
    assert tokenizer_file(str(tmp_path)) == os.path.join(tmp_path, "vocab.txt")
    (tmp_path / "tokenizer.model").write_bytes(b"")
    assert tokenizer_file(str(tmp_path)) == os.path.join(tmp_path, "tokenizer.model")
    (tmp_path / "config.json").write_text("{}")
    assert pretrained.resolve(str(tmp_path)).has_tokenizer


def test_a_directory_of_no_known_layout_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="neither an HF directory .* nor a bert_jax workdir"):
        pretrained.resolve(str(tmp_path))
