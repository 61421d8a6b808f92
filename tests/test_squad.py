"""SQuAD: windows and the answer ↔ token mapping (hand cases and a round trip over every answer of the
shared SQuAD articles), n-best answer selection and null odds on constructed logits, the v2.0 threshold
search through the task, readers' errors, the TFDS source on real examples, and runs through the CLI."""

import dataclasses
import importlib.util
import json
import os

import numpy as np
import pytest
from test_finetune import ROOT, cli

from bert_jax.data import squad_windows
from bert_jax.data.loaders import host_batches
from bert_jax.data.readers import DataError, SquadExample, read_squad_json
from bert_jax.data.squad_unanswerable import make_unanswerable
from bert_jax.data.tokenizer import load_tokenizer
from bert_jax.tasks.squad_answers import best_answers

SHARED_FILE = ("squad", "v1.1", "dev-v1.1.even-articles.json")
CONTEXT = "The Denver Broncos won Super Bowl 50 in 2016. Peyton Manning was their quarterback."


@pytest.fixture(scope="module")
def tokenizer(minilm_dir):
    return load_tokenizer(minilm_dir)


def squad_config(arg):
    spec = importlib.util.spec_from_file_location("squad_config", os.path.join(ROOT, "configs", "squad.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config(arg)


def squad_json(path, paragraphs, version="1.1"):
    """paragraphs: [(title, context, [(id, question, [(text, start)], impossible)])]."""
    data = [{"title": title, "paragraphs": [{"context": context, "qas": [
        {"id": qid, "question": q, "answers": [{"text": t, "answer_start": s} for t, s in answers],
         **({"is_impossible": impossible} if version == "v2.0" else {})}
        for qid, q, answers, impossible in qas]}]} for title, context, qas in paragraphs]
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"version": version, "data": data}, f)
    return str(path)


# ------------------------------------------------------------------------------------------ windows
def test_answer_token_span_by_hand():
    # tokens: "the"[0,3) "broncos"[4,11) "won"[12,15) "50"[16,18)
    starts, ends = np.array([0, 4, 12, 16]), np.array([3, 11, 15, 18])
    assert squad_windows.answer_token_span(starts, ends, 4, 15) == (1, 2)  # "broncos won"
    assert squad_windows.answer_token_span(starts, ends, 3, 11) == (1, 1)  # leading space
    assert squad_windows.answer_token_span(starts, ends, 5, 9) == (1, 1)  # inside one token
    assert squad_windows.answer_token_span(starts, ends, 18, 20) is None  # past the end


def test_windows_follow_googles_doc_stride_and_max_context():
    # 10 tokens, 4 per window, stride 3: starts 0, 3, 6 (the last one reaches the end).
    spans = squad_windows.window_starts(10, 4, 3)
    assert spans == [(0, 4), (3, 4), (6, 4)]
    assert squad_windows.window_starts(3, 4, 3) == [(0, 3)]
    # Token 3 is in windows 0 (left 3, right 0) and 1 (left 0, right 3): a tie, the first window wins.
    # Token 4 is in window 1 only... and window 1 gives it min(1, 2) = 1: max context there.
    assert squad_windows._is_max_context(spans, (0, 4), 3)
    assert not squad_windows._is_max_context(spans, (1, 4), 3)
    assert squad_windows._is_max_context(spans, (3, 4), 4)


def test_long_context_windows_contain_the_answer_at_the_right_tokens(tokenizer):
    words = [f"word{i}" for i in range(200)]
    context = " ".join(words[:100] + ["The answer is Denver Broncos here."] + words[100:])
    start = context.index("Denver Broncos")
    example = SquadExample("q", "Which team?", context, [("Denver Broncos", start)])
    w = squad_windows.featurize([example], tokenizer, max_seq_length=64, doc_stride=16, max_query_length=8,
                                training=True, out_of_span="cls")
    assert len(w.lengths) > 10 and (w.lengths <= 64).all()
    labelled = np.flatnonzero(w.arrays["start_positions"] > 0)
    assert len(labelled) >= 2  # stride 16 < window: several windows hold the answer
    for f in range(len(w.lengths)):
        s, e = w.arrays["start_positions"][f], w.arrays["end_positions"][f]
        if f in labelled:
            assert context[w.offsets[f, s, 0]:w.offsets[f, e, 1]] == "Denver Broncos"
            assert (w.arrays["token_type_ids"].row(f)[s:e + 1] == 1).all()
        else:
            assert s == e == 0
    # Every context token is the max-context token of exactly one window.
    first = {}
    for f in range(len(w.lengths)):
        for position in np.flatnonzero(w.max_context[f]):
            key = int(w.offsets[f, position, 0])
            assert key not in first
            first[key] = f
    assert len(first) == len(tokenizer.split([context])[0].ids)
    dropped = squad_windows.featurize([example], tokenizer, 64, 16, 8, training=True, out_of_span="drop")
    assert len(dropped.lengths) == len(labelled)


def test_round_trip_of_every_gold_answer_of_the_shared_squad_articles(shared_data, tokenizer):
    """Every gold answer (all annotators) of the 5,397 questions: where its window holds it, the token span
    read back through the offsets is the gold text, except when the annotation cuts a word in two
    ("gold" inside "golden"), which no token span can reproduce: those are counted and checked to be that."""
    examples = read_squad_json(os.path.join(shared_data, *SHARED_FILE))
    assert len(examples) == 5397
    each_answer = [dataclasses.replace(e, qid=f"{e.qid}/{k}", answers=[a])
                   for e in examples for k, a in enumerate(e.answers)]
    w = squad_windows.featurize(each_answer, tokenizer, 384, 128, 64, training=True, out_of_span="drop")
    assert w.skipped == {} and len(set(w.example)) == len(each_answer) == 18368
    mismatched, first_answer_mismatched = set(), set()
    for f in range(len(w.lengths)):
        e = each_answer[w.example[f]]
        s, t = w.arrays["start_positions"][f], w.arrays["end_positions"][f]
        char_start, char_end = w.offsets[f, s, 0], w.offsets[f, t, 1]
        text, gold_start = e.answers[0]
        if e.context[char_start:char_end] != text:
            # Not a token boundary on at least one side, and the span is the smallest one covering the gold.
            assert char_start <= gold_start and gold_start + len(text) <= char_end
            assert char_start < gold_start or gold_start + len(text) < char_end
            mismatched.add(e.qid)
            if e.qid.endswith("/0"):
                first_answer_mismatched.add(e.qid)
    print(f"gold answers whose text splits a token: {len(mismatched)} of 18368; "
          f"first answers: {len(first_answer_mismatched)} of 5397")
    assert len(mismatched) == 44 and len(first_answer_mismatched) == 22  # as measured; all of them mid-word


# ----------------------------------------------------------------------------------------- answers
def _windows_for(tokenizer, examples, **kw):
    return squad_windows.featurize(examples, tokenizer, kw.get("max_seq_length", 384), kw.get("doc_stride", 128),
                                   64)


def _logits_for(w, spans, null=0.0):
    """Logits [F, L]: -10 everywhere, [CLS] at ``null``/2 each, +5 at the given (window, token, kind)."""
    start = np.full(w.offsets.shape[:2], -10.0)
    end = np.full(w.offsets.shape[:2], -10.0)
    start[:, 0] = end[:, 0] = null / 2
    for f, position, kind, value in spans:
        (start if kind == "start" else end)[f, position] = value
    return start, end


def _token_at(w, f, char):
    return int(np.flatnonzero(w.offsets[f, :, 0] == char)[0])


def test_best_span_text_comes_from_the_context_and_respects_max_answer_length(tokenizer):
    example = SquadExample("q", "Who won?", CONTEXT, [])
    w = _windows_for(tokenizer, [example])
    s, e = _token_at(w, 0, CONTEXT.index("Denver")), _token_at(w, 0, CONTEXT.index("Broncos"))
    far_end = _token_at(w, 0, CONTEXT.index("quarterback"))
    start, end = _logits_for(w, [(0, s, "start", 5.0), (0, e, "end", 4.0), (0, far_end, "end", 6.0)])
    answers = best_answers([example], w.example, start, end, w.offsets, w.max_context, n_best=20,
                           max_answer_length=30)
    assert answers.text["q"] == CONTEXT[CONTEXT.index("Denver"):].rstrip(".")  # the 6.0 end is in reach
    short = best_answers([example], w.example, start, end, w.offsets, w.max_context, max_answer_length=3)
    assert short.text["q"] == "Denver Broncos"  # the far end is more than 3 tokens away
    nbest = short.nbest["q"]
    assert nbest[0]["text"] == "Denver Broncos" and nbest[0]["score"] == pytest.approx(9.0)
    assert sum(n["probability"] for n in nbest) == pytest.approx(1.0)
    assert len({n["text"] for n in nbest}) == len(nbest) <= 20
    # An end before the start is never a span: (Broncos, Denver) would score 14; the best is a span
    # ending at Denver from a -10 start (score -1).
    start2, end2 = _logits_for(w, [(0, e, "start", 5.0), (0, s, "end", 9.0)])
    reversed_ = best_answers([example], w.example, start2, end2, w.offsets, w.max_context)
    assert reversed_.text["q"].endswith("Denver") and reversed_.nbest["q"][0]["score"] == pytest.approx(-1.0)


def test_the_best_span_across_windows_wins_and_null_odds_use_the_smallest_null(tokenizer):
    context = " ".join(f"w{i}" for i in range(120)) + " Paris is the answer."
    example = SquadExample("q", "Where?", context, [])
    w = _windows_for(tokenizer, [example], max_seq_length=96, doc_stride=32)
    assert len(w.lengths) >= 3
    last = len(w.lengths) - 1
    paris = _token_at(w, last, context.index("Paris"))
    w0 = _token_at(w, 0, context.index("w3 "))
    start, end = _logits_for(w, [(0, w0, "start", 3.0), (0, w0, "end", 3.0),
                                 (last, paris, "start", 4.0), (last, paris, "end", 4.0)], null=1.0)
    start[1, 0], end[1, 0] = -2.0, 0.5  # window 1's null score is the smallest: -1.5
    answers = best_answers([example], w.example, start, end, w.offsets, w.max_context, with_null=True)
    assert answers.text["q"] == "Paris"
    assert answers.null_odds["q"] == pytest.approx(-1.5 - 8.0)
    assert answers.predictions(threshold=-10.0) == {"q": ""} and answers.predictions(-9.0) == {"q": "Paris"}
    null_entry = [n for n in answers.nbest["q"] if n["text"] == ""]
    assert len(null_entry) == 1 and null_entry[0]["score"] == pytest.approx(-1.5)


def test_a_question_whose_nbest_has_no_span_gets_the_empty_answer(tokenizer):
    """google-research/bert #476: every n-best entry null → a crash there; here '' with odds +inf."""
    example = SquadExample("q", "What?", "", [])
    w = _windows_for(tokenizer, [example])
    start, end = _logits_for(w, [])
    answers = best_answers([example], w.example, start, end, w.offsets, w.max_context, with_null=True)
    assert answers.text == {"q": ""} and answers.null_odds["q"] == float("inf")
    assert answers.predictions(0.0) == {"q": ""} and [n["text"] for n in answers.nbest["q"]] == [""]


# ---------------------------------------------------------------------------------------- readers
def test_reader_errors_name_the_file_and_place(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"data": [\n  {"title": "x",, }\n]}')
    with pytest.raises(DataError, match=r"bad.json:2:\d+: not valid JSON"):
        read_squad_json(str(bad))
    no_context = squad_json(tmp_path / "nc.json", [("t", "", [("q1", "Who?", [], False)])])
    with pytest.raises(DataError, match=r"nc.json: data\[0\].paragraphs\[0\].context is empty"):
        read_squad_json(no_context)
    missing = tmp_path / "missing.json"
    missing.write_text(json.dumps({"data": [{"paragraphs": [{"context": "c", "qas": [{"id": "1", "answers": []}]}]}]}))
    with pytest.raises(DataError, match=r"missing.json: data\[0\].paragraphs\[0\].qas\[0\]: missing 'question'"):
        read_squad_json(str(missing))
    duplicate = squad_json(tmp_path / "dup.json", [("t", "c d", [("1", "a?", [("c", 0)], False)] * 2)])
    with pytest.raises(DataError, match="duplicate question id '1'"):
        read_squad_json(duplicate)
    (tmp_path / "latin1.json").write_bytes('{"data": "caf\xe9"}'.encode("latin-1"))
    with pytest.raises(DataError, match="not UTF-8"):
        read_squad_json(str(tmp_path / "latin1.json"))


def test_misaligned_training_answers_are_skipped_counted_and_logged(tokenizer, caplog):
    good = SquadExample("good", "Who?", CONTEXT, [("Denver Broncos", CONTEXT.index("Denver"))])
    bad = SquadExample("bad", "Who?", CONTEXT, [("Denver Broncos", 0)])
    w = squad_windows.featurize([good, bad], tokenizer, 384, 128, 64, training=True)
    assert list(w.example) == [0] and w.skipped == {"answer text not at answer_start": 1}
    assert "bad: answer 'Denver Broncos' is not at answer_start 0" in caplog.text
    # At prediction time the same question is featurised (its gold texts are only used for scoring).
    assert list(squad_windows.featurize([good, bad], tokenizer).example) == [0, 1]


def test_make_unanswerable_moves_questions_to_other_articles(shared_data):
    with open(os.path.join(shared_data, *SHARED_FILE), encoding="utf-8") as f:
        document = json.load(f)
    document = {"data": document["data"][:4]}
    v2 = make_unanswerable(document, fraction=0.5, seed=0)
    questions = {qa["id"]: (a, qa) for a, art in enumerate(v2["data"]) for p in art["paragraphs"] for qa in p["qas"]}
    originals = {qa["id"]: a for a, art in enumerate(document["data"]) for p in art["paragraphs"] for qa in p["qas"]}
    negatives = [q for q in questions if q.endswith("_neg")]
    assert len(negatives) == round(len(originals) / 2) and len(questions) == len(originals) + len(negatives)
    for q in negatives:
        article, qa = questions[q]
        assert qa["is_impossible"] and qa["answers"] == [] and article != originals[q[:-4]]
    assert make_unanswerable(document, 0.5, seed=0) == v2


def test_tfds_source_reads_real_examples_through_tfds(tmp_path, shared_data, minilm_dir):
    tfds = pytest.importorskip("tensorflow_datasets")
    tf = pytest.importorskip("tensorflow")
    from bert_jax.tasks.squad import SquadTask

    real = read_squad_json(os.path.join(shared_data, *SHARED_FILE), slice(0, 2))

    def as_dataset(self, split, **kwargs):
        def records():
            for e in real:
                yield {"id": e.qid, "title": e.title, "context": e.context, "question": e.question,
                       "answers": {"text": [t for t, _ in e.answers], "answer_start": [s for _, s in e.answers]}}

        spec = tf.TensorSpec([], tf.string)
        return tf.data.Dataset.from_generator(records, output_signature={
            "id": spec, "title": spec, "context": spec, "question": spec,
            "answers": {"text": tf.TensorSpec([None], tf.string), "answer_start": tf.TensorSpec([None], tf.int32)}})

    config = squad_config("runlocal")
    config.data.update(source="tfds", vocab=os.path.join(minilm_dir, "vocab.txt"), dev_articles="1:2")
    with tfds.testing.mock_data(as_dataset_fn=as_dataset):
        task = SquadTask(config, str(tmp_path))
        dev = task.examples("dev")
    assert [e.qid for e in dev] == [e.qid for e in real if e.title == real[-1].title]
    assert dev[0].answers == next(e for e in real if e.qid == dev[0].qid).answers


# -------------------------------------------------------------------------------------------- CLI
def _folder(tmp_path, shared_data):
    """Three real articles (train on 0:2, evaluate on 2:3) when ../shared is there, else a small file."""
    if shared_data:
        return os.path.join(shared_data, "squad", "v1.1"), SHARED_FILE[-1]
    rng = np.random.default_rng(0)
    paragraphs = []
    for a in range(3):
        words = [f"w{a}x{i}" for i in rng.integers(0, 50, 40)]
        context = " ".join(words)
        qas = [(f"{a}-{k}", f"What is {words[k]}?", [(words[k + 1], context.index(" " + words[k + 1]) + 1)], False)
               for k in range(0, 30, 3)]
        paragraphs.append((f"article{a}", context, qas))
    return str(tmp_path), os.path.basename(squad_json(tmp_path / "small.json", paragraphs))


@pytest.mark.slow
def test_squad_v1_through_the_cli_writes_official_files(tmp_path, minilm_dir, shared_or_none):
    folder, name = _folder(tmp_path, shared_or_none)
    workdir = tmp_path / "run"
    cli("squad.py:runlocal", workdir, f"--config.data.vocab={minilm_dir}/vocab.txt", f"--config.data.dir={folder}",
        f"--config.data.train_file={name}", f"--config.data.dev_file={name}", "--config.data.train_articles=0:2",
        "--config.data.dev_articles=2:3", "--config.eval_batches=0", "--config.data.max_seq_length=128",
        "--config.task.doc_stride=64")
    results = json.loads((workdir / "eval_results.json").read_text())
    dev = read_squad_json(os.path.join(folder, name), slice(2, 3))
    predictions = json.loads((workdir / "predictions" / "dev" / "predictions.json").read_text())
    nbest = json.loads((workdir / "predictions" / "dev" / "nbest_predictions.json").read_text())
    assert set(predictions) == set(nbest) == {e.qid for e in dev} and results["total"] == len(dev)
    # The results are the official scores of the written predictions, and each prediction is its n-best top.
    from bert_jax import metrics

    gold = {e.qid: [t for t, _ in e.answers] for e in dev}
    assert results["f1"] == pytest.approx(metrics.squad_evaluate(predictions, gold)["f1"])
    assert all(predictions[q] == nbest[q][0]["text"] for q in predictions)
    assert all(predictions[q] in e.context for e in dev for q in [e.qid])
    assert not (workdir / "predictions" / "dev" / "null_odds.json").exists()


@pytest.mark.slow
def test_squad_v2_threshold_search_through_the_cli(tmp_path, minilm_dir, shared_data):
    """A v2.0-layout file built from the shared v1.1 articles; the run reports the official best threshold,
    and use_best_threshold applies it: the predictions then score best_f1."""
    source = os.path.join(shared_data, *SHARED_FILE)
    with open(source, encoding="utf-8") as f:
        document = json.load(f)
    v2 = tmp_path / "v2.json"
    v2.write_text(json.dumps(make_unanswerable({"data": document["data"][:3]}, 0.5, seed=0)))
    common = [f"--config.data.vocab={minilm_dir}/vocab.txt", f"--config.data.dir={tmp_path}",
              "--config.data.train_file=v2.json", "--config.data.dev_file=v2.json",
              "--config.data.train_articles=0:2", "--config.data.dev_articles=2:3", "--config.eval_batches=0",
              "--config.data.max_seq_length=128", "--config.task.doc_stride=64"]
    cli("squad.py:version=2,runlocal", tmp_path / "run", *common)
    results = json.loads((tmp_path / "run" / "eval_results.json").read_text())
    odds = json.loads((tmp_path / "run" / "predictions" / "dev" / "null_odds.json").read_text())
    predictions = json.loads((tmp_path / "run" / "predictions" / "dev" / "predictions.json").read_text())
    assert results["null_score_diff_threshold"] == 0.0 and results["best_f1"] >= results["f1"]
    assert results["best_f1"] >= results["NoAns_total"] / results["total"] * 100  # abstaining on all is a candidate
    assert all(predictions[q] == "" for q in predictions if odds[q] > 0.0)
    assert set(odds) == set(predictions) and results["HasAns_total"] + results["NoAns_total"] == len(odds)

    cli("squad.py:version=2,runlocal", tmp_path / "best", *common, "--config.task.use_best_threshold=True")
    best = json.loads((tmp_path / "best" / "eval_results.json").read_text())
    assert best["null_score_diff_threshold"] == best["best_f1_thresh"] and best["f1"] == pytest.approx(best["best_f1"])


def test_bad_squad_input_fails_before_training_and_leaves_nothing(tmp_path, minilm_dir):
    (tmp_path / "broken.json").write_text('{"data": [}')
    workdir = tmp_path / "run"
    proc = cli("squad.py:runlocal", workdir, f"--config.init_from={minilm_dir}", f"--config.data.dir={tmp_path}",
               "--config.data.train_file=broken.json", "--config.data.dev_file=broken.json", check=False)
    assert proc.returncode == 1 and "broken.json:1:11: not valid JSON" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not workdir.exists() or not any(workdir.iterdir())


def test_a_long_document_is_answered_with_an_eval_batch_smaller_than_its_windows(tmp_path, minilm_dir):
    """Windows are the unit of batching: 2 per eval batch here, a dozen for the question; predictions of
    all batches are joined (evaluation.concat_batches) and the answer in the last window wins."""
    from bert_jax.evaluation import concat_batches as _concat
    from bert_jax.evaluation import run_evaluators
    from bert_jax.tasks.squad import SquadTask

    config = squad_config("runlocal")
    config.data.update(vocab=os.path.join(minilm_dir, "vocab.txt"), max_seq_length=64)
    config.task.doc_stride = 16
    config.eval_batch_size = 2
    task = SquadTask(config, str(tmp_path))
    context = " ".join(f"w{i}" for i in range(150)) + " Paris is the answer."
    task._examples["dev"] = [SquadExample("q", "Where?", context, [("Paris", context.index("Paris"))])]
    windows = task.windows("dev")
    dataset = host_batches(task, config, "dev")
    assert len(windows.lengths) > 6 and len(dataset) == -(-len(windows.lengths) // 2)
    parts = {"start_logits": [], "end_logits": [], "example_index": []}
    for k in range(len(dataset)):
        batch = dataset[k]
        index = np.maximum(batch["example_index"], 0)
        width = batch["input_ids"].shape[1]
        hit = windows.offsets[index, :width, 0] == context.index("Paris")
        logits = np.where(hit, 5.0, -5.0) + np.random.default_rng(k).normal(0, 0.1, hit.shape)
        parts["start_logits"].append(logits)
        parts["end_logits"].append(logits)
        parts["example_index"].append(batch["example_index"])
    predictions = {k: _concat(v) for k, v in parts.items()}
    scores = [e for e in task.evaluators() if not e.final]
    assert run_evaluators(task, scores, predictions, "dev") == ({"exact": 100.0, "f1": 100.0, "total": 1}, [])
    # A second pass with other logits is answered afresh.
    del parts, predictions
    flipped = {"start_logits": [], "end_logits": [], "example_index": []}
    for k in range(len(dataset)):
        batch = dataset[k]
        hit = windows.offsets[np.maximum(batch["example_index"], 0), :batch["input_ids"].shape[1], 0] == 0
        flipped["start_logits"].append(np.where(hit, 5.0, -5.0))
        flipped["end_logits"].append(np.where(hit, 5.0, -5.0))
        flipped["example_index"].append(batch["example_index"])
    assert run_evaluators(task, scores, {k: _concat(v) for k, v in flipped.items()}, "dev")[0]["exact"] == 0.0
