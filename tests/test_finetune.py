"""Fine-tuning end to end through the real CLI (tiny models, runlocal configs): GLUE with leaderboard
files, MNLI's two dev sets and AX, STS-B regression, SWAG, CoNLL NER; bad input fails early with the
file and line and leaves the workdir empty; init from HF dirs and bert_jax workdirs; the sweep table;
the TFDS sources on TFDS's mock data."""

import csv
import json
import os
import shutil
import subprocess
import sys

import ml_collections
import numpy as np
import pytest

from bert_jax.data.readers import CONLL_TAGS
from tests.xla_env import cli_env

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SWAG_HEADER = ["", "video-id", "fold-ind", "startphrase", "sent1", "sent2", "gold-source",
               "ending0", "ending1", "ending2", "ending3", "label"]
WORDS = "the a man woman dog cat runs sits eats sleeps park house city river paris london john mary".split()


@pytest.fixture(scope="module")
def vocab(minilm_dir):
    return os.path.join(minilm_dir, "vocab.txt")


def cli(config: str, workdir, *overrides: str, check: bool = True) -> subprocess.CompletedProcess:
    """The real CLI on one CPU device (tests/xla_env.py says why)."""
    cmd = [sys.executable, "-m", "bert_jax.main", f"--config={ROOT}/configs/{config}", f"--workdir={workdir}",
           *overrides]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600, env=cli_env())
    if check and proc.returncode:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def sentence(rng, n=6) -> str:
    return " ".join(rng.choice(WORDS, n)).capitalize() + "."


def write_tsv(path, header, rows):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write("\t".join(header) + "\n" + "".join("\t".join(map(str, r)) + "\n" for r in rows))


def rte_folder(root, shared_data=None, n=40):
    """Real RTE train/dev from ../shared when present, else hand-made rows in the same layout; plus a
    hand-made test.tsv (GLUE's unlabelled layout) for the leaderboard file."""
    rng = np.random.default_rng(0)
    folder = os.path.join(root, "RTE")
    header = ["index", "sentence1", "sentence2", "label"]
    labels = ["entailment", "not_entailment"]
    if shared_data:
        shutil.copytree(os.path.join(shared_data, "glue", "RTE"), folder)
    else:
        for split in ("train", "dev"):
            write_tsv(os.path.join(folder, f"{split}.tsv"), header,
                      [(i, sentence(rng), sentence(rng), labels[i % 2]) for i in range(n)])
    write_tsv(os.path.join(folder, "test.tsv"), header[:3], [(i, sentence(rng), sentence(rng)) for i in range(13)])
    return folder


def read_tsv_rows(path):
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n").split("\t") for line in f]


@pytest.mark.slow
def test_glue_rte_from_an_hf_checkpoint_writes_metrics_and_leaderboard_files(tmp_path, minilm_dir, shared_or_none):
    data = rte_folder(tmp_path, shared_or_none)
    workdir = tmp_path / "run"
    cli("glue.py:rte,runlocal", workdir, f"--config.data.dir={data}", f"--config.init_from={minilm_dir}")
    results = json.loads((workdir / "eval_results.json").read_text())
    assert results["selected_by"] == "score" and 0 <= results["accuracy"] <= 1
    assert results["score"] == results["accuracy"] and results["last_step"]["step"] == 6
    assert json.loads((workdir / "best.json").read_text())["step"] == results["step"]
    dev = read_tsv_rows(workdir / "predictions" / "dev.tsv")
    assert dev[0] == ["index", "prediction", "label"] and len(dev) == 1 + 16  # runlocal scores 2 batches of 8
    assert {r[1] for r in dev[1:]} <= {"entailment", "not_entailment"}
    test = read_tsv_rows(workdir / "predictions" / "glue" / "RTE.tsv")
    assert test[0] == ["index", "prediction"] and [r[0] for r in test[1:]] == [str(i) for i in range(13)]
    assert {r[1] for r in test[1:]} <= {"entailment", "not_entailment"}
    # The encoder came from MiniLM (384 hidden), and the workdir describes it for a later init_from.
    model_config = json.loads((workdir / "model" / "config.json").read_text())
    assert model_config["hidden_size"] == 384 and (workdir / "model" / "vocab.txt").exists()

    # A bert_jax workdir as init_from: its encoder weights and its model/ config and vocab.
    second = tmp_path / "from_workdir"
    proc = cli("glue.py:rte,runlocal", second, f"--config.data.dir={data}", f"--config.init_from={workdir}")
    assert f"init_from {workdir}: loaded bert; head initialised fresh" in proc.stdout + proc.stderr
    assert json.loads((second / "model" / "config.json").read_text())["hidden_size"] == 384


@pytest.mark.slow
def test_mnli_scores_matched_and_mismatched_and_predicts_ax(tmp_path, vocab):
    rng = np.random.default_rng(1)
    labels = ["entailment", "neutral", "contradiction"]
    header = ["index", "promptID", "pairID", "genre", "sentence1_binary_parse", "sentence2_binary_parse",
              "sentence1_parse", "sentence2_parse", "sentence1", "sentence2"]
    folder = tmp_path / "glue_data" / "MNLI"

    def rows(n, labelled, dev=False):
        out = []
        for i in range(n):
            row = [i, i, f"{i}e", "fiction", "( x )", "( y )", "(ROOT x)", "(ROOT y)", sentence(rng), sentence(rng)]
            if labelled:
                label = labels[i % 3]
                row += [label] * (5 if dev else 1) + [label]  # label1[..label5] gold_label
            out.append(row)
        return out

    write_tsv(folder / "train.tsv", header + ["label1", "gold_label"], rows(24, True))
    dev_header = header + [f"label{i}" for i in range(1, 6)] + ["gold_label"]
    write_tsv(folder / "dev_matched.tsv", dev_header, rows(10, True, dev=True))
    write_tsv(folder / "dev_mismatched.tsv", dev_header, rows(9, True, dev=True))
    write_tsv(folder / "test_matched.tsv", header, rows(5, False))
    write_tsv(folder / "test_mismatched.tsv", header, rows(4, False))
    write_tsv(tmp_path / "glue_data" / "diagnostic" / "diagnostic.tsv", ["index", "sentence1", "sentence2"],
              [(i, sentence(rng), sentence(rng)) for i in range(3)])
    workdir = tmp_path / "run"
    cli("glue.py:mnli,runlocal", workdir, f"--config.data.dir={folder}", f"--config.data.vocab={vocab}")
    results = json.loads((workdir / "eval_results.json").read_text())
    assert {"accuracy", "accuracy_mm", "score"} <= set(results)
    assert results["score"] == pytest.approx((results["accuracy"] + results["accuracy_mm"]) / 2)
    for name, n in (("MNLI-m.tsv", 5), ("MNLI-mm.tsv", 4), ("AX.tsv", 3)):
        rows_out = read_tsv_rows(workdir / "predictions" / "glue" / name)
        assert rows_out[0] == ["index", "prediction"] and len(rows_out) == n + 1
        assert {r[1] for r in rows_out[1:]} <= set(labels)
    assert (workdir / "predictions" / "dev_matched.tsv").exists()
    assert (workdir / "predictions" / "dev_mismatched.tsv").exists()


@pytest.mark.slow
def test_stsb_regression_on_real_files(tmp_path, shared_data, vocab):
    workdir = tmp_path / "run"
    cli("glue.py:stsb,runlocal", workdir, f"--config.data.dir={shared_data}/glue/STS-B",
        f"--config.data.vocab={vocab}")
    results = json.loads((workdir / "eval_results.json").read_text())
    assert {"pearson", "spearmanr", "score"} <= set(results)
    assert results["score"] == pytest.approx((results["pearson"] + results["spearmanr"]) / 2)
    dev = read_tsv_rows(workdir / "predictions" / "dev.tsv")
    assert all(0.0 <= float(r[1]) <= 5.0 for r in dev[1:])  # leaderboard range


def write_swag(path, n, labelled=True, seed=0):
    rng = np.random.default_rng(seed)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(SWAG_HEADER if labelled else SWAG_HEADER[:-1])
        for i in range(n):
            first, start = sentence(rng), "Then " + str(rng.choice(WORDS))
            endings = [f"{rng.choice(WORDS)}, then {rng.choice(WORDS)}." for _ in range(4)]
            row = [i, f"lsmdc{i}", i, f"{first} {start}", first, start, "gold", *endings]
            writer.writerow(row + ([i % 4] if labelled else []))


@pytest.mark.slow
def test_swag_multiple_choice_on_hand_made_files_in_the_released_layout(tmp_path, vocab):
    folder = tmp_path / "swag"
    write_swag(folder / "train.csv", 32)
    write_swag(folder / "val.csv", 12, seed=1)
    write_swag(folder / "test.csv", 5, labelled=False, seed=2)
    workdir = tmp_path / "run"
    cli("swag.py:runlocal", workdir, f"--config.data.dir={folder}", f"--config.data.vocab={vocab}")
    results = json.loads((workdir / "eval_results.json").read_text())
    assert 0 <= results["accuracy"] <= 1 and results["selected_by"] == "accuracy"
    with open(workdir / "predictions" / "test.csv", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["id", "prediction", "score0", "score1", "score2", "score3"] and len(rows) == 6
    assert all(r[1] in "0123" for r in rows[1:])


@pytest.mark.slow
def test_ner_with_document_context_on_real_conll(tmp_path, vocab, shared_or_none):
    folder = tmp_path / "conll"
    if shared_or_none:
        folder = os.path.join(shared_or_none, "conll2003")
    else:
        rng = np.random.default_rng(3)
        for name in ("train.txt", "valid.txt"):
            lines = []
            for _ in range(4):
                lines += ["-DOCSTART- -X- -X- O", ""]
                for _ in range(5):
                    lines += [f"{w} NN I-NP {rng.choice(CONLL_TAGS)}" for w in rng.choice(WORDS, 7)] + [""]
            os.makedirs(folder, exist_ok=True)
            (folder / name).write_text("\n".join(lines))
    workdir = tmp_path / "run"
    cli("ner.py:runlocal,context", workdir, f"--config.data.dir={folder}", f"--config.data.vocab={vocab}")
    results = json.loads((workdir / "eval_results.json").read_text())
    assert {"precision", "recall", "f1", "token_accuracy"} <= set(results)
    assert results["selected_by"] == "f1"
    lines = (workdir / "predictions" / "dev.conll").read_text().splitlines()
    assert lines[0] == "-DOCSTART- -X- -X- O"
    tokens = [line.split() for line in lines if line and not line.startswith("-DOCSTART-")]
    assert tokens and all(len(t) == 5 and t[4] in CONLL_TAGS for t in tokens)  # input columns + prediction


@pytest.mark.parametrize("case", ["glue_columns", "glue_label", "stsb_score", "conll_columns", "swag_ending"])
def test_bad_input_fails_before_training_and_leaves_nothing(tmp_path, vocab, case):
    data = tmp_path / "data"
    if case.startswith("glue") or case == "stsb_score":
        rng = np.random.default_rng(0)
        if case == "stsb_score":
            header = ["index", "genre", "filename", "year", "old_index", "source1", "source2", "sentence1",
                      "sentence2", "score"]
            good = [(i, "g", "f", "y", i, "n", "n", sentence(rng), sentence(rng), "2.5") for i in range(8)]
            bad = [(8, "g", "f", "y", 8, "n", "n", sentence(rng), sentence(rng), "n/a")]
            config, expected = "glue.py:stsb,runlocal", r"train.tsv:10: score 'n/a'"
        else:
            header = ["index", "sentence1", "sentence2", "label"]
            good = [(i, sentence(rng), sentence(rng), "entailment") for i in range(8)]
            bad = [(8, sentence(rng), "entailment")] if case == "glue_columns" else [(8, "a", "b", "contradiction")]
            config = "glue.py:rte,runlocal"
            expected = ("train.tsv:10: 3 tab-separated columns, expected 4" if case == "glue_columns"
                        else "train.tsv:10: unknown label 'contradiction'")
        write_tsv(data / "train.tsv", header, good + bad)
        write_tsv(data / "dev.tsv", header, good)
    elif case == "conll_columns":
        os.makedirs(data)
        (data / "train.txt").write_text("EU NNP B-NP B-ORG\nrejects VBZ O\n")
        (data / "valid.txt").write_text("EU NNP B-NP B-ORG\n")
        config, expected = "ner.py:runlocal", "train.txt:2: 3 columns, expected 4"
    else:
        write_swag(data / "train.csv", 8)
        with open(data / "train.csv", "a", encoding="utf-8") as f:
            f.write('8,v,8,"A b. C",A b.,C,gold,x.,y.,,w.,1\n')
        write_swag(data / "val.csv", 8)
        config, expected = "swag.py:runlocal", "train.csv:10: ending2 is empty"
    workdir = tmp_path / "run"
    proc = cli(config, workdir, f"--config.data.dir={data}", f"--config.data.vocab={vocab}", check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr  # the one-line message, no traceback
    assert expected in proc.stdout + proc.stderr and str(data) in proc.stdout + proc.stderr
    assert not workdir.exists() or not os.listdir(workdir)  # no config, checkpoint, log or results file


def wnli_folder(root, shared_data=None, n=40):
    """Real WNLI train/dev from ../shared when present, else hand-made rows in its layout (labels 0/1)."""
    folder = os.path.join(root, "WNLI")
    if shared_data:
        shutil.copytree(os.path.join(shared_data, "glue", "WNLI"), folder)
        return folder
    rng = np.random.default_rng(1)
    for split in ("train", "dev"):
        write_tsv(os.path.join(folder, f"{split}.tsv"), ["index", "sentence1", "sentence2", "label"],
                  [(i, sentence(rng), sentence(rng), i % 2) for i in range(n)])
    return folder


@pytest.mark.slow
def test_sweep_two_tasks_two_seeds_in_parallel_processes_writes_the_table_and_plot(tmp_path, vocab, shared_or_none):
    folders = {"rte": rte_folder(tmp_path, shared_or_none), "wnli": wnli_folder(tmp_path, shared_or_none)}
    out = tmp_path / "sweep"
    runs = [f"--run=--config={ROOT}/configs/glue.py:{task},runlocal --config.data.dir={folder} "
            f"--config.data.vocab={vocab}" for task, folder in folders.items()]
    proc = subprocess.run([sys.executable, "-m", "bert_jax.sweep", f"--workdir={out}", *runs,
                           "--learning_rates=1e-4", "--seeds=0,1", "--parallel=2"], cwd=ROOT, capture_output=True,
                          text=True, timeout=900, env=cli_env())
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = (out / "results.md").read_text()
    for task in folders:
        seeds = [json.loads((out / f"glue_{task}_runlocal" / f"lr1e-4_seed{s}" / "eval_results.json").read_text())
                 for s in (0, 1)]
        mean, std = np.mean([r["accuracy"] for r in seeds]), np.std([r["accuracy"] for r in seeds])
        row = next(line for line in table.splitlines() if line.startswith(f"| glue_{task}_runlocal | 1e-4 | 2 |"))
        assert f"accuracy {mean:.4f} ± {std:.4f}" in row
    assert (out / "sweep.png").stat().st_size > 1000
    rows = json.loads((out / "results.json").read_text())
    assert sorted(r["run"] for r in rows) == ["glue_rte_runlocal", "glue_wnli_runlocal"]


def test_sweep_refuses_a_run_without_config_before_starting_any(tmp_path):
    out = tmp_path / "sweep"
    proc = subprocess.run([sys.executable, "-m", "bert_jax.sweep", f"--workdir={out}",
                           "--run=--config=configs/glue.py:rte", "--run=--config.data.dir=x"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    assert proc.stderr.strip() == "error: --run='--config.data.dir=x' has no --config=..."
    assert not out.exists()  # nothing ran, nothing written


def test_sweep_plan_goes_seed_by_seed_then_learning_rate_with_the_tasks_innermost():
    """Runs that start together are other tasks (other programs to compile), not the same task at another learning
    rate or seed, whose compiled steps a later run loads from the persistent cache."""
    from bert_jax import main, sweep  # noqa: F401  (main first: the sweep imports beside it)

    runs = ["--config=configs/glue.py:rte", "--config=configs/glue.py:mrpc"]
    order = [os.path.relpath(d, "w") for d, _ in sweep.plan("w", runs, ["1e-4", "2e-5"], ["0", "1"])]
    assert order == [f"glue_{task}/lr{lr}_seed{seed}" for seed in (0, 1) for lr in ("1e-4", "2e-5")
                     for task in ("rte", "mrpc")]


def test_sweep_starts_the_next_run_when_any_running_one_ends(tmp_path):
    """Two slots, three runs: the first waits (up to 60 s) for a file that only the third writes, the second ends at
    once. The third must start when the second ends; a scheduler that waits on the oldest run first would leave it
    pending until the first gave up (exit 1). bert_jax.main is imported first, as another test in the same worker
    may have done: the sweep must be importable as a library beside it (both have a --workdir flag)."""
    from bert_jax import main, sweep  # noqa: F401  (main: its flags are defined first, as in a shared worker)

    release = tmp_path / "release"
    waits = f"import os, sys, time\nfor _ in range(600):\n    if os.path.exists({str(release)!r}): sys.exit(0)\n" \
            "    time.sleep(0.1)\nsys.exit(1)"
    jobs = [(str(tmp_path / "grid" / "a"), [sys.executable, "-c", waits]),
            (str(tmp_path / "grid" / "b"), [sys.executable, "-c", "pass"]),
            (str(tmp_path / "grid" / "c"), [sys.executable, "-c", f"open({str(release)!r}, 'w').close()"])]
    assert sweep.execute(jobs, parallel=2, poll_seconds=0.05) == []
    assert release.exists()


def _task_config(task, **data):
    from bert_jax.config_base import finetuning_config

    c = finetuning_config(task)
    c.model.preset = "tiny"
    c.data.update(data)
    return c


def test_tfds_sources_read_glue_and_conll(tmp_path, vocab):
    tfds = pytest.importorskip("tensorflow_datasets")
    tf = pytest.importorskip("tensorflow")
    from bert_jax.tasks.glue import GlueTask
    from bert_jax.tasks.ner import NerTask

    config = _task_config("glue", source="tfds", vocab=vocab)
    config.task.subtask = "stsb"
    with tfds.testing.mock_data(num_examples=6):
        task = GlueTask(config, str(tmp_path))
        features = task.features("dev")
    assert len(features) == 6 and features.arrays["labels"].dtype == np.float32
    assert task.test_splits() == ("test",)

    sentences = [(["John", "lives", "in", "Paris"], [1, 0, 0, 5]), (["EU", "rejects"], [3, 0])]

    def as_dataset(self, split, **kwargs):
        return tf.data.Dataset.from_generator(
            lambda: ({"tokens": w, "ner": t, "pos": [0] * len(w), "chunks": [0] * len(w)} for w, t in sentences),
            output_signature={"tokens": tf.TensorSpec([None], tf.string), "ner": tf.TensorSpec([None], tf.int64),
                              "pos": tf.TensorSpec([None], tf.int64), "chunks": tf.TensorSpec([None], tf.int64)})

    with tfds.testing.mock_data(as_dataset_fn=as_dataset):
        ner = NerTask(_task_config("ner", source="tfds", vocab=vocab), str(tmp_path))
        read = ner.sentences("dev")
    assert [s.words for s in read] == [w for w, _ in sentences]
    assert read[0].tags == ["B-PER", "O", "O", "B-LOC"] and read[1].tags == ["B-ORG", "O"]


def test_ner_windows_label_first_subwords_and_add_document_context(tmp_path, vocab):
    from bert_jax.tasks.ner import IGNORE, NerTask

    folder = tmp_path / "conll"
    os.makedirs(folder)
    doc = ["-DOCSTART- -X- -X- O", "", "Before NN O O", "", "Johanson NNP B-NP B-PER", "visits VBZ O O",
           "Lyon NNP B-NP B-LOC", "", "After NN O O", ""]
    (folder / "valid.txt").write_text("\n".join(doc))
    config = _task_config("ner", dir=str(folder), vocab=vocab, max_seq_length=16)
    plain = NerTask(config, str(tmp_path)).features("dev")
    tok = NerTask(config, str(tmp_path)).tokenizer
    row = plain.tokens("input_ids", 1)
    pieces = [tok.split([w])[0].ids for w in ("Johanson", "visits", "Lyon")]
    assert list(row) == [tok.cls_id, *pieces[0], *pieces[1], *pieces[2], tok.sep_id]
    labels = plain.tokens("labels", 1)
    expected = [IGNORE]
    for tag, word in zip(("B-PER", "O", "B-LOC"), pieces, strict=True):
        expected += [CONLL_TAGS.index(tag)] + [IGNORE] * (len(word) - 1)
    assert list(labels) == expected + [IGNORE]
    batch = plain.take(np.array([1]), 16)  # padded once, in the batch: pad id and IGNORE past the row
    n = plain.lengths[1]
    assert list(batch["input_ids"][0]) == list(row) + [tok.pad_id] * (16 - n)
    assert list(batch["labels"][0]) == list(labels) + [IGNORE] * (16 - n) and batch["attention_mask"][0].sum() == n
    config.task.document_context = True
    context = NerTask(config, str(tmp_path)).features("dev")
    row = list(context.tokens("input_ids", 1))
    before, after = tok.split(["Before"])[0].ids, tok.split(["After"])[0].ids
    assert row == [tok.cls_id, *before, *pieces[0], *pieces[1], *pieces[2], *after, tok.sep_id]
    assert list(context.tokens("labels", 1)) == \
        [IGNORE] * (1 + len(before)) + expected[1:] + [IGNORE] * (len(after) + 1)


def test_ner_document_context_is_the_nearest_pieces_of_the_same_document_split_half_and_half():
    """ner_windows._context against its definition written out plainly (every earlier and later sentence of the
    same document, nearest first; half the room each side, a side's unused half to the other), on random documents
    of random sentence lengths, for rooms from 0 to past a whole document: the left walk stops early (at the
    document's start or once it holds the room), which must not change a window."""
    from types import SimpleNamespace

    from bert_jax.data.ner_windows import _context

    def reference(sentences, flat, i, room):
        doc = sentences[i].document
        before = [p for j in range(i - 1, -1, -1) if sentences[j].document == doc for p in reversed(flat[j])]
        after = [p for j in range(i + 1, len(sentences)) if sentences[j].document == doc for p in flat[j]]
        left = min(len(before), max(room // 2, room - len(after)))
        return list(reversed(before[:left])), after[:room - left]

    rng = np.random.default_rng(0)
    documents = np.repeat(np.arange(6), rng.integers(1, 9, 6))  # consecutive, as read_conll numbers them
    sentences = [SimpleNamespace(document=int(d)) for d in documents]
    flat, next_id = [], 0
    for _ in sentences:
        n = int(rng.integers(0, 7))
        flat.append(list(range(next_id, next_id + n)))
        next_id += n
    for i in range(len(sentences)):
        for room in (0, 1, 2, 3, 5, 8, 13, 21, 60):
            assert _context(sentences, flat, i, room) == reference(sentences, flat, i, room), (i, room)


def test_model_config_comes_from_init_from_and_config_model_overrides_it(minilm_dir, tmp_path):
    from bert_jax.tasks.finetune import model_config_for

    config = ml_collections.ConfigDict({"model": {"preset": "tiny", "hidden_dropout_prob": 0.2},
                                        "init_from": minilm_dir})
    model = model_config_for(config, 30522)
    assert (model.hidden_size, model.num_hidden_layers, model.hidden_dropout_prob) == (384, 6, 0.2)
    with pytest.raises(ValueError, match="the tokenizer has 40000 tokens but the model's vocab_size is 30522"):
        model_config_for(config, 40000)
    # A Google TF checkpoint directory: bert_config.json, whose "gelu" is the tanh form.
    google = tmp_path / "google"
    os.makedirs(google)
    (google / "bert_config.json").write_text(json.dumps({
        "attention_probs_dropout_prob": 0.1, "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "hidden_size": 128,
        "initializer_range": 0.02, "intermediate_size": 512, "max_position_embeddings": 512,
        "num_attention_heads": 2, "num_hidden_layers": 2, "type_vocab_size": 2, "vocab_size": 30522}))
    config.init_from = str(google)
    model = model_config_for(config, 30522)
    assert (model.hidden_size, model.gelu_approximate, model.hidden_dropout_prob) == (128, True, 0.2)


@pytest.mark.slow
def test_a_damaged_best_checkpoint_falls_back_to_the_last_params_and_says_so(tmp_path, vocab):
    """best/<step> holds the selected params; if it cannot be read at the end, the run still finishes, with
    the last step's results, a warning, and selected_by naming the damage."""
    data = rte_folder(tmp_path)
    workdir = tmp_path / "run"
    common = [f"--config.data.dir={data}", f"--config.data.vocab={vocab}"]
    cli("glue.py:rte,runlocal", workdir, *common)
    record = json.loads((workdir / "best.json").read_text())
    if record["step"] != 3:  # make step 3 the recorded best, whose files are then damaged
        os.rename(workdir / "best" / str(record["step"]), workdir / "best" / "3")
        (workdir / "best.json").write_text(json.dumps({**record, "step": 3}))
    files = [os.path.join(d, f) for d, _, names in os.walk(workdir / "best" / "3") for f in names]
    largest = max(files, key=os.path.getsize)
    with open(largest, "r+b") as f:
        f.truncate(os.path.getsize(largest) // 2)
    proc = cli("glue.py:rte,runlocal", workdir, *common)
    results = json.loads((workdir / "eval_results.json").read_text())
    assert results["step"] == 6 and results["selected_by"].startswith("last step (best/3 unreadable")
    log = proc.stdout + proc.stderr
    assert "best checkpoint" in log and "cannot be read" in log
