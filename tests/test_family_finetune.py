"""Fine-tuning through the CLI from a RoBERTa encoder (random-initialised transformers model + a byte-level BPE
vocab trained here): GLUE RTE and CoNLL NER end to end; SQuAD windows in RoBERTa's pair format."""

import json
import os

import numpy as np
import pytest

from bert_jax.data import squad_windows
from bert_jax.data.readers import SquadExample
from bert_jax.data.vocab_training import train_byte_level_bpe
from tests.test_finetune import WORDS, cli, rte_folder

TEXT = ("The man sat in the park while the dog ran to the river. Mary and John live in London, not Paris. "
        "EU rejects German call to boycott British lamb. Peter Blackburn went to Brussels on Monday.\n")


@pytest.fixture(scope="module")
def roberta_dir(tmp_path_factory, torch_transformers):
    """A RobertaForMaskedLM (2 layers, hidden 32, random) saved with a 400-piece byte-level BPE vocab."""
    torch, transformers = torch_transformers
    root = tmp_path_factory.mktemp("roberta")
    corpus = root / "corpus.txt"
    corpus.write_text(TEXT * 20 + " ".join(WORDS) + "\n")
    tokenizer = train_byte_level_bpe([str(corpus)], 400, str(root / "model"))
    torch.manual_seed(0)
    config = transformers.RobertaConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
                                        num_attention_heads=2, intermediate_size=48, max_position_embeddings=130,
                                        type_vocab_size=1, pad_token_id=1, layer_norm_eps=1e-5)
    transformers.RobertaForMaskedLM(config).save_pretrained(str(root / "model"))
    return str(root / "model")


def _model_dir_of(workdir):
    return json.loads((workdir / "model" / "config.json").read_text()), sorted(os.listdir(workdir / "model"))


def test_glue_rte_with_a_roberta_encoder(tmp_path, roberta_dir, shared_or_none):
    workdir = tmp_path / "rte"
    data = rte_folder(str(tmp_path), shared_or_none)
    cli("glue.py:rte,runlocal", workdir, f"--config.data.dir={data}", f"--config.init_from={roberta_dir}")
    results = json.loads((workdir / "eval_results.json").read_text())
    assert 0.0 <= results["accuracy"] <= 1.0
    config, files = _model_dir_of(workdir)
    assert config["model_type"] == "roberta" and config["type_vocab_size"] == 1
    assert {"vocab.json", "merges.txt"} <= set(files)  # the workdir can be the next run's init_from


def test_ner_with_a_roberta_encoder(tmp_path, roberta_dir, shared_or_none):
    folder = tmp_path / "conll"
    if shared_or_none:
        folder = os.path.join(shared_or_none, "conll2003")
    else:
        lines = ["-DOCSTART- -X- -X- O", "", "EU NNP B-NP B-ORG", "rejects VBZ B-VP O", "German JJ B-NP B-MISC",
                 "call NN I-NP O", ". . O O", ""]
        os.makedirs(folder)
        for name in ("train.txt", "valid.txt"):
            (folder / name).write_text("\n".join(lines * 8))
    workdir = tmp_path / "ner"
    cli("ner.py:runlocal", workdir, f"--config.data.dir={folder}", f"--config.init_from={roberta_dir}")
    results = json.loads((workdir / "eval_results.json").read_text())
    assert {"precision", "recall", "f1"} <= set(results)
    assert _model_dir_of(workdir)[0]["model_type"] == "roberta"


def test_squad_windows_use_robertas_pair_format(roberta_dir):
    from bert_jax.data.tokenizer import load_tokenizer

    tok = load_tokenizer(roberta_dir)
    context = "Mary and John live in London, not Paris. " * 6
    start = context.index("London")
    example = SquadExample("q1", "Where do Mary and John live?", context, [("London", start)])
    windows = squad_windows.featurize([example], tok, max_seq_length=40, doc_stride=16, max_query_length=12,
                                      training=True)
    question = tok.split([example.question])[0].ids
    ids = windows.arrays["input_ids"].row(0)
    assert list(ids[:len(question) + 3]) == [tok.cls_id, *question, tok.sep_id, tok.sep_id]
    assert set(windows.arrays["token_type_ids"].row(0).tolist()) == {0}
    s, e = windows.arrays["start_positions"][0], windows.arrays["end_positions"][0]
    assert s > 0 and tok.decode(ids[s:e + 1]).strip() == "London"
    first_context = windows.offsets[0][len(question) + 3]
    assert first_context[0] == 0 and context[slice(*first_context)] == tok.decode([ids[len(question) + 3]])
    assert np.all(windows.offsets[0][:len(question) + 3] == -1)
