"""Distillation: DistilBERT's loss against a PyTorch transcription of its distiller, the student initialised from
every other teacher layer, the teacher frozen through training, and the errors a bad teacher raises."""

import json
import os

import numpy as np
import pytest

from bert_jax.checkpoint import Checkpointer
from bert_jax.tasks.distill import distillation_loss
from tests.test_finetune import ROOT, cli


def test_loss_matches_distilberts_distiller(torch_transformers):
    """KLDivLoss(batchmean) of the masked positions × T², CrossEntropy of the true tokens, CosineEmbeddingLoss
    of the hidden states at real tokens: the three terms as transformers' examples/distillation computes them."""
    torch, _ = torch_transformers
    rng = np.random.default_rng(0)
    b, n, s, v, h, temperature = 3, 4, 6, 11, 8, 2.0
    outputs = {"mlm_logits": rng.normal(size=(b, n, v)), "teacher_mlm_logits": rng.normal(size=(b, n, v)) * 2,
               "hidden": rng.normal(size=(b, s, h)), "teacher_hidden": rng.normal(size=(b, s, h))}
    weights = np.ones((b, n))
    weights[1, 3] = weights[2, 2:] = 0
    mask = np.ones((b, s))
    mask[2, 4:] = 0
    batch = {"masked_lm_weights": weights, "masked_lm_ids": rng.integers(0, v, (b, n)).astype(np.int32),
             "attention_mask": mask}
    loss, parts = distillation_loss({k: np.asarray(x, np.float32) for k, x in outputs.items()}, batch, temperature,
                                    5.0, 2.0, 1.0)

    t = {k: torch.tensor(x, dtype=torch.float32) for k, x in outputs.items()}
    real = torch.tensor(weights, dtype=torch.bool)
    s_logits, t_logits = t["mlm_logits"][real], t["teacher_mlm_logits"][real]
    ce = torch.nn.KLDivLoss(reduction="batchmean")(torch.log_softmax(s_logits / temperature, -1),
                                                     torch.softmax(t_logits / temperature, -1)) * temperature**2
    mlm = torch.nn.functional.cross_entropy(s_logits, torch.tensor(batch["masked_lm_ids"], dtype=torch.long)[real])
    tokens = torch.tensor(mask, dtype=torch.bool)
    s_hidden, t_hidden = t["hidden"][tokens], t["teacher_hidden"][tokens]
    cos = torch.nn.CosineEmbeddingLoss()(s_hidden, t_hidden, torch.ones(len(s_hidden)))
    np.testing.assert_allclose(float(parts["ce_loss"]), float(ce), rtol=1e-5)
    np.testing.assert_allclose(float(parts["mlm_loss"]), float(mlm), rtol=1e-5)
    np.testing.assert_allclose(float(parts["cos_loss"]), float(cos), rtol=1e-5)
    np.testing.assert_allclose(float(loss), float(5 * ce + 2 * mlm + cos), rtol=1e-5)


@pytest.fixture(scope="module")
def bert_teacher(tmp_path_factory, torch_transformers, minilm_dir):
    """A BertForMaskedLM of 4 layers (hidden 32, random) with the MiniLM uncased vocab."""
    torch, transformers = torch_transformers
    path = tmp_path_factory.mktemp("teacher")
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=4, num_attention_heads=2,
                                     intermediate_size=48, max_position_embeddings=128)
    transformers.BertForMaskedLM(config).save_pretrained(str(path))
    for name in ("vocab.txt", "tokenizer_config.json"):
        with open(os.path.join(minilm_dir, name), "rb") as src, open(path / name, "wb") as dst:
            dst.write(src.read())
    return path


@pytest.fixture(scope="module")
def distill_data(tmp_path_factory, bert_teacher):
    """The runlocal docstring pairs in the teacher's vocab, prepared once for the runs below (each run would
    prepare its own: ~15 s apiece)."""
    import importlib.util

    from bert_jax.tasks.distill import DistillTask

    spec = importlib.util.spec_from_file_location("distill", os.path.join(ROOT, "configs", "distill.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = module.get_config("runlocal")
    directory = str(tmp_path_factory.mktemp("distill_data"))
    config.distill.teacher, config.data.dir = str(bert_teacher), directory
    DistillTask(config, directory)
    return directory


def _params(workdir):
    return Checkpointer(str(workdir)).restore(None)["params"]


@pytest.mark.xdist_group("distill_data")  # one worker prepares the shared pairs
def test_student_starts_from_every_other_layer_and_the_teacher_stays_frozen(tmp_path, bert_teacher, distill_data):
    """lr 0: the student is exactly the teacher's embeddings (no token types: DistilBERT), layers 0 and 2 and
    MLM head. Then a real run: the student moves, the teacher is bit-identical to its directory."""
    from safetensors.numpy import load_file

    teacher = load_file(str(bert_teacher / "model.safetensors"))
    still = tmp_path / "lr0"
    cli("distill.py:runlocal", still, f"--config.distill.teacher={bert_teacher}", "--config.optim.learning_rate=0",
        "--config.total_steps=2", "--config.eval_every=2", "--config.ckpt_every=2", f"--config.data.dir={distill_data}")
    student = _params(still)["bert"]
    assert sorted(student) == ["embeddings", "encoder"]  # no pooler
    assert "token_type_embeddings" not in student["embeddings"]
    np.testing.assert_array_equal(student["embeddings"]["word_embeddings"]["embedding"],
                                  teacher["bert.embeddings.word_embeddings.weight"])
    for i, t in ((0, 0), (1, 2)):
        np.testing.assert_array_equal(student["encoder"][f"layer_{i}"]["intermediate"]["dense"]["kernel"],
                                      teacher[f"bert.encoder.layer.{t}.intermediate.dense.weight"].T)
    assert json.loads((still / "model" / "config.json").read_text())["model_type"] == "distilbert"

    moving = tmp_path / "run"
    cli("distill.py:runlocal", moving, f"--config.distill.teacher={bert_teacher}", f"--config.data.dir={distill_data}")
    params = _params(moving)
    np.testing.assert_array_equal(params["head"]["teacher_bert"]["encoder"]["layer_3"]["output"]["dense"]["kernel"],
                                  teacher["bert.encoder.layer.3.output.dense.weight"].T)
    np.testing.assert_array_equal(params["head"]["teacher_predictions"]["bias"], teacher["cls.predictions.bias"])
    moved = np.abs(params["bert"]["encoder"]["layer_1"]["intermediate"]["dense"]["kernel"]
                   - teacher["bert.encoder.layer.2.intermediate.dense.weight"].T).max()
    assert moved > 1e-4
    metrics = [json.loads(line) for line in (moving / "metrics.jsonl").read_text().splitlines()]
    assert any({"ce_loss", "mlm_loss", "cos_loss"} <= set(m) for m in metrics)
    results = json.loads((moving / "eval_results.json").read_text())
    assert results["mlm_accuracy"] >= 0 and "nsp_accuracy" not in results


@pytest.mark.xdist_group("distill_data")  # one worker prepares the shared pairs
def test_a_student_of_all_teacher_layers_scores_as_the_teacher(tmp_path, bert_teacher, distill_data):
    """student_layers = the teacher's 4, its architecture, lr 0: the student is a copy of the teacher, so the
    held-out accuracy of the student's predictions equals the teacher's (teacher_mlm_accuracy) exactly."""
    cli("distill.py:runlocal", tmp_path / "copy", f"--config.distill.teacher={bert_teacher}",
        "--config.distill.student_layers=4", "--config.distill.student_type=teacher", "--config.optim.learning_rate=0",
        "--config.total_steps=2", "--config.eval_every=2", "--config.ckpt_every=2", f"--config.data.dir={distill_data}")
    results = json.loads((tmp_path / "copy" / "eval_results.json").read_text())
    assert results["mlm_accuracy"] == results["teacher_mlm_accuracy"] and results["masked_tokens"] > 0


@pytest.mark.parametrize("case", ["vocab", "no_head", "missing"])
def test_a_bad_teacher_fails_before_training_and_leaves_nothing(tmp_path, bert_teacher, shared_or_none, case,
                                                              torch_transformers):
    workdir = tmp_path / "run"
    args = [f"--config.distill.teacher={bert_teacher}"]
    if case == "vocab":
        other = tmp_path / "vocab.txt"
        lines = (bert_teacher / "vocab.txt").read_text(encoding="utf-8").splitlines()
        lines[1000], lines[1001] = lines[1001], lines[1000]
        other.write_text("\n".join(lines) + "\n", encoding="utf-8")
        args.append(f"--config.data.vocab={other}")
        expected = "differs from the teacher's vocab (30522 tokens; first difference at id 1000)"
    elif case == "no_head":
        _, transformers = torch_transformers
        headless = tmp_path / "headless"
        transformers.BertModel.from_pretrained(str(bert_teacher)).save_pretrained(str(headless))
        (headless / "vocab.txt").write_bytes((bert_teacher / "vocab.txt").read_bytes())
        args = [f"--config.distill.teacher={headless}"]
        expected = "cls.predictions"
    else:
        args = [f"--config.distill.teacher={tmp_path / 'nothing'}"]
        expected = "neither an HF directory"
    proc = cli("distill.py:runlocal", workdir, *args, check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert expected in proc.stdout + proc.stderr, (proc.stdout + proc.stderr)[-2000:]
    assert not workdir.exists() or not os.listdir(workdir)  # not even prepared data
