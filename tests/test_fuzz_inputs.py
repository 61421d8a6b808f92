"""Property-based tests (hypothesis): no input crashes a reader or the tokenizer with anything but our own
clear DataError. Inputs are arbitrary bytes, near-valid files (real layouts with random cells, tabs, quotes,
blank lines, bad bytes) and arbitrary JSON documents."""

import json
import os
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bert_jax.data.glue_data import SUBTASKS, read_glue_tsv
from bert_jax.data.readers import DataError, read_conll, read_squad_json, read_swag_csv

# Fixed examples in CI (a failure there reproduces); fresh ones on every local run.
SETTINGS = settings(max_examples=150, deadline=None, derandomize=bool(os.environ.get("CI")),
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
CELL = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
LINE_PIECES = st.sampled_from(["\t", ",", '"', " ", "\n", "\r\n", "\ufeff", "-DOCSTART- -X- -X- O", "B-PER", "I-LOC",
                               "O", "entailment", "not_entailment", "0", "1", "3.5", "label", "index"])


def _bytes_file(data: bytes) -> str:
    fd, path = tempfile.mkstemp()
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return path


def _only_data_errors(read, data: bytes):
    path = _bytes_file(data)
    try:
        read(path)
    except DataError as e:
        assert str(e).startswith(path), str(e)  # every message names the file first
    finally:
        os.remove(path)


near_valid_text = st.lists(st.one_of(LINE_PIECES, CELL), max_size=40).map("".join)
raw_or_near_valid = st.one_of(st.binary(max_size=300), near_valid_text.map(lambda t: t.encode("utf-8")),
                              st.tuples(near_valid_text, st.binary(max_size=4)).map(
                                  lambda p: p[0].encode("utf-8") + p[1]))


@SETTINGS
@given(raw_or_near_valid, st.sampled_from(["rte", "stsb", "cola", "mnli"]), st.booleans())
def test_glue_tsv_reader(data, task, labelled):
    _only_data_errors(lambda p: read_glue_tsv(p, SUBTASKS[task], labelled=labelled), data)


@SETTINGS
@given(st.one_of(raw_or_near_valid, st.lists(st.lists(CELL, min_size=10, max_size=13), max_size=4).map(
    lambda rows: ("," + ",".join(["video-id", "fold-ind", "startphrase", "sent1", "sent2", "gold-source", "ending0",
                                  "ending1", "ending2", "ending3", "label"]) + "\n"
                  + "\n".join(",".join(json.dumps(c) for c in r) for r in rows)).encode("utf-8"))))
def test_swag_csv_reader(data):
    _only_data_errors(read_swag_csv, data)


@SETTINGS
@given(st.one_of(raw_or_near_valid, st.lists(st.tuples(CELL, st.sampled_from(["O", "B-PER", "I-MISC", "X"]),
                                                       st.integers(2, 5)), max_size=8).map(
    lambda rows: "\n".join(" ".join([w.replace(" ", "") or "w"] * (n - 1) + [t]) for w, t, n in rows).encode("utf-8"))))
def test_conll_reader(data):
    _only_data_errors(read_conll, data)


json_values = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-3, 300), st.floats(allow_nan=False),
                                     CELL), lambda children: st.one_of(
    st.lists(children, max_size=3),
    st.dictionaries(st.sampled_from(["data", "paragraphs", "context", "qas", "id", "question", "answers", "text",
                                     "answer_start", "is_impossible", "title"]), children, max_size=5)),
    max_leaves=25)
squad_like = st.builds(
    lambda context, question, text, start, impossible, extra: {"data": [{"title": "t", "paragraphs": [
        {"context": context, "qas": [{"id": "q", "question": question, "is_impossible": impossible,
                                      "answers": [{"text": text, "answer_start": start}], **extra}]}]}]},
    CELL, CELL, CELL, st.integers(-5, 50), st.booleans(), st.dictionaries(st.just("id"), json_values, max_size=1))


@SETTINGS
@given(st.one_of(raw_or_near_valid, json_values.map(lambda v: json.dumps(v).encode()),
                 squad_like.map(lambda v: json.dumps(v).encode())))
def test_squad_json_reader(data):
    _only_data_errors(read_squad_json, data)


@pytest.fixture(scope="module")
def tokenizer(minilm_dir):
    from bert_jax.data.tokenizer import load_tokenizer

    return load_tokenizer(minilm_dir)


@SETTINGS
@given(st.text(max_size=60), st.one_of(st.none(), st.text(max_size=60)), st.integers(3, 40))
def test_tokenizer_never_crashes_and_offsets_stay_in_the_text(tokenizer, text, pair, max_length):
    out = tokenizer.encode_batch([text], None if pair is None else [pair], max_length=max_length,
                                 return_offsets=True)
    ids = out["input_ids"][0]
    assert len(ids) <= max_length and ((ids >= 0) & (ids < tokenizer.vocab_size)).all()
    for (start, end), sequence in zip(out["offsets"][0], out["sequence_ids"][0], strict=True):
        if sequence >= 0:
            source = text if sequence == 0 else pair
            assert 0 <= start <= end <= len(source)
    tokenizer.decode(ids.tolist())
