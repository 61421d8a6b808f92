"""Task file readers (GLUE TSV, SWAG CSV, CoNLL) on the real files and on hand-made bad ones, and the
fine-tuning batch streams."""

import os

import numpy as np
import pytest

from bert_jax.data.glue_data import SUBTASKS, read_glue_tsv
from bert_jax.data.loaders import EvalBatches, Features, TrainBatches
from bert_jax.data.readers import DataError, iob1_to_bio, read_conll, read_swag_csv, read_tsv
from bert_jax.data.widths import bucket_width
from bert_jax.tasks.finetune import in_order

SWAG_HEADER = ",video-id,fold-ind,startphrase,sent1,sent2,gold-source,ending0,ending1,ending2,ending3,label\n"


def write(path, text, mode="w"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
        f.write(text)
    return str(path)


# ------------------------------------------------------------------------------------- real files
@pytest.mark.parametrize("task,split,count", [("cola", "train", 8551), ("cola", "dev", 1043), ("sst2", "train", 67349),
                                              ("mrpc", "train", 3668), ("mrpc", "dev", 408), ("stsb", "dev", 1500),
                                              ("rte", "train", 2490), ("rte", "dev", 277), ("wnli", "train", 635)])
def test_glue_tsv_reader_reads_every_row_of_the_real_files(shared_data, task, split, count):
    sub = SUBTASKS[task]
    ex = read_glue_tsv(os.path.join(shared_data, "glue", sub.folder, f"{split}.tsv"), sub, labelled=True)
    assert len(ex.texts) == count == len(ex.labels)  # the counts in MANIFEST.md (GLUE's official sizes)
    assert all(len(t) == len(sub.text_columns) and all(t) for t in ex.texts)
    if sub.labels is None:
        assert ex.labels.dtype == np.float32 and 0 <= ex.labels.min() and ex.labels.max() <= 5
    else:
        assert set(np.unique(ex.labels)) <= set(range(len(sub.labels)))


def test_glue_reader_keeps_quotes_and_strips_the_bom(shared_data):
    sub = SUBTASKS["mrpc"]
    ex = read_glue_tsv(os.path.join(shared_data, "glue/MRPC/dev.tsv"), sub, labelled=True)
    # Row 1 of the real dev file: an unbalanced quote that CSV quoting would run into the next rows.
    assert ex.texts[0][1] == '"The foodservice pie business does not fit our long-term growth strategy.'
    assert ex.labels[0] == 1
    cola = read_glue_tsv(os.path.join(shared_data, "glue/CoLA/dev.tsv"), SUBTASKS["cola"], labelled=True)
    assert cola.texts[0] == ("The sailors rode the breeze clear of the rocks.",) and cola.labels[0] == 1


def test_conll_reader_on_the_real_valid_file(shared_data):
    sentences = read_conll(os.path.join(shared_data, "conll2003/valid.txt"))
    assert len(sentences) == 3250  # MANIFEST.md: 216 documents / 3,250 sentences
    assert len({s.document for s in sentences}) == 216
    assert sentences[0].words[:2] == ["CRICKET", "-"] and sentences[0].line_number == 3


# -------------------------------------------------------------------------------------- bad files
def test_bad_glue_rows_name_file_and_line(tmp_path):
    rte = SUBTASKS["rte"]
    header = "index\tsentence1\tsentence2\tlabel\n"
    bad_columns = write(tmp_path / "cols.tsv", header + "0\ta\tb\tentailment\n1\ta\tb\n")
    with pytest.raises(DataError, match=r"cols.tsv:3: 3 tab-separated columns, expected 4"):
        read_glue_tsv(bad_columns, rte, labelled=True)
    bad_label = write(tmp_path / "label.tsv", header + "0\ta\tb\tentailment\n1\ta\tb\tmaybe\n")
    with pytest.raises(DataError, match=r"label.tsv:3: unknown label 'maybe'.*\['entailment', 'not_entailment'\]"):
        read_glue_tsv(bad_label, rte, labelled=True)
    stsb_header = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n"
    bad_score = write(tmp_path / "sts.tsv", stsb_header + "0\tg\tf\ty\t0\tn\tn\ta\tb\tfive\n")
    with pytest.raises(DataError, match=r"sts.tsv:2: score 'five' in column 'score' is not a number"):
        read_glue_tsv(bad_score, SUBTASKS["stsb"], labelled=True)
    not_utf8 = write(tmp_path / "bytes.tsv", header.encode() + b"0\ta\t\xff\tentailment\n", "wb")
    with pytest.raises(DataError, match=r"bytes.tsv:2: not UTF-8"):
        read_glue_tsv(not_utf8, rte, labelled=True)
    with pytest.raises(DataError, match=r"empty.tsv: no data rows"):
        read_glue_tsv(write(tmp_path / "empty.tsv", header), rte, labelled=True)
    with pytest.raises(DataError, match=r"no column 'label' in the header"):
        read_glue_tsv(write(tmp_path / "nolabel.tsv", "index\tsentence1\tsentence2\n0\ta\tb\n"), rte, labelled=True)
    # skip_malformed drops the bad row (the real QQP train file needs it) and keeps the rest.
    assert len(read_tsv(bad_columns, has_header=True, skip_malformed=True).rows) == 1


def test_bad_swag_rows_name_file_and_line(tmp_path):
    good = '0,v1,f1,"A man sits. He",A man sits.,He,gold,"stands, slowly.",waves.,eats.,sleeps.,0\n'
    ex = read_swag_csv(write(tmp_path / "val.csv", SWAG_HEADER + good))
    assert ex[0].endings[0] == "stands, slowly." and ex[0].label == 0 and ex[0].start == "He"
    missing = '1,v2,f2,"A b",A b.,She,gold,x,y,,w,1\n'
    with pytest.raises(DataError, match=r"missing.csv:3: ending2 is empty"):
        read_swag_csv(write(tmp_path / "missing.csv", SWAG_HEADER + good + missing))
    short = '1,v2,f2,"A b",A b.,She,gold,x,y,z,1\n'
    with pytest.raises(DataError, match=r"short.csv:3: 11 columns, expected 12"):
        read_swag_csv(write(tmp_path / "short.csv", SWAG_HEADER + good + short))
    with pytest.raises(DataError, match=r"header.csv:1: header"):
        read_swag_csv(write(tmp_path / "header.csv", "a,b\n1,2\n"))
    with pytest.raises(DataError, match=r"label.csv:2: label '7'"):
        read_swag_csv(write(tmp_path / "label.csv", SWAG_HEADER + good.replace(",0\n", ",7\n")))


def test_bad_conll_lines_name_file_and_line(tmp_path):
    text = "-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\n"
    assert [s.tags for s in read_conll(write(tmp_path / "ok.txt", text))] == [["B-ORG", "O"]]
    with pytest.raises(DataError, match=r"cols.txt:7: 3 columns, expected 4"):
        read_conll(write(tmp_path / "cols.txt", text + "\nGerman JJ B-MISC\n"))
    with pytest.raises(DataError, match=r"tag.txt:6: unknown tag 'B-FOO'"):
        read_conll(write(tmp_path / "tag.txt", text + "German JJ B-NP B-FOO\n"))
    with pytest.raises(DataError, match=r"none.txt: no sentences"):
        read_conll(write(tmp_path / "none.txt", "-DOCSTART- -X- -X- O\n\n"))


def test_iob1_to_bio_by_hand():
    # The original eng.train convention: I- opens an entity, B- only splits two adjacent same-type ones.
    assert iob1_to_bio(["I-PER", "I-PER", "B-PER", "O", "I-LOC", "I-ORG", "I-ORG"]) == \
        ["B-PER", "I-PER", "B-PER", "O", "B-LOC", "B-ORG", "I-ORG"]


# ----------------------------------------------------------------------------------------- batching
def _features(n, max_len=64):
    rng = np.random.default_rng(0)
    lengths = rng.integers(3, max_len + 1, n)
    mask = (np.arange(max_len)[None] < lengths[:, None]).astype(np.int32)
    arrays = {"input_ids": mask * (np.arange(n)[:, None] + 1), "token_type_ids": np.zeros_like(mask),
              "attention_mask": mask, "labels": np.arange(n)}
    return Features(arrays, lengths)


def test_train_stream_visits_every_example_once_per_epoch_and_is_deterministic():
    features = _features(37)
    stream = TrainBatches(features, 8, seed=3, max_length=64, multiple=16)
    seen = np.concatenate([stream[k]["labels"] for k in range(37 * 2 // 8 + 1)])
    assert sorted(seen[:37]) == list(range(37)) and sorted(seen[37:74]) == list(range(37))
    assert not np.array_equal(seen[:37], seen[37:74])  # a new permutation each epoch
    again = TrainBatches(features, 8, seed=3, max_length=64, multiple=16)
    assert all(np.array_equal(stream[k]["input_ids"], again[k]["input_ids"]) for k in (0, 5, 9))
    for k in range(9):  # each batch is cut to the next multiple of 16 that holds its longest row
        batch = stream[k]
        width = batch["input_ids"].shape[1]
        longest = features.lengths[stream.indices(k)].max()
        assert width % 16 == 0 and longest <= width < longest + 16
        assert np.all(batch["attention_mask"].sum(1) == features.lengths[stream.indices(k)])  # nothing real cut
    assert [bucket_width(n, 128, 32) for n in (1, 32, 33, 100, 128)] == [32, 32, 64, 128, 128]
    assert bucket_width(5, 100, 0) == 100 and bucket_width(99, 100, 32) == 100
    hosts = [TrainBatches(features, 8, 3, 64, 16, process_index=p, process_count=2)[4] for p in range(2)]
    assert np.array_equal(np.concatenate([h["labels"] for h in hosts]), stream[4]["labels"])


def test_eval_batches_cover_each_example_once_and_mark_padding():
    features = _features(21)
    batches = EvalBatches(features, 8, max_length=64, multiple=16)
    assert len(batches) == 3
    gathered = {k: np.concatenate([batches[i][k] for i in range(3)]) for k in ("labels", "example_index")}
    assert (gathered["example_index"] == -1).sum() == 3
    ordered = in_order(gathered)
    assert list(ordered["example_index"]) == list(range(21)) and list(ordered["labels"]) == list(range(21))


def test_token_features_are_padded_once_per_batch_as_the_tokenizer_pads(minilm_dir):
    """Unpadded rows (RaggedRows) padded per batch equal the tokenizer's own max_length padding cut to the
    batch's width, for sentence pairs and for multiple choice (4 rows per example); packing reads the same
    unpadded tokens."""
    from bert_jax.data.loaders import RaggedRows, token_features
    from bert_jax.data.tokenizer import load_tokenizer

    tokenizer = load_tokenizer(os.path.join(minilm_dir, "vocab.txt"))
    firsts = ["A short one.", "A somewhat longer sentence, with a comma and more words in it.", "Hi", "Two words"]
    seconds = ["And its pair.", "Short.", "There is a long second sentence here, truncated to fit the row.", "x"]
    padded = tokenizer.encode_batch(firsts, seconds, max_length=24, truncation=True, padding="max_length")
    features = token_features(tokenizer.encode_many(firsts, seconds, 24), tokenizer.pad_id, {"labels": np.arange(4)})
    np.testing.assert_array_equal(features.lengths, padded["attention_mask"].sum(-1))
    index = np.array([2, 0, 1])
    width = int(features.lengths[index].max())
    batch = features.take(index, width)
    for name in ("input_ids", "token_type_ids", "attention_mask"):
        assert isinstance(features.arrays[name], RaggedRows)
        np.testing.assert_array_equal(batch[name], padded[name][index, :width], err_msg=name)
    np.testing.assert_array_equal(features.tokens("input_ids", 3), padded["input_ids"][3, :features.lengths[3]])

    choices = token_features(tokenizer.encode_many(firsts * 2, seconds * 2, 24), 7, {"labels": np.arange(2)},
                             per_example=4)
    assert choices.rows_per_example == 4 and len(choices) == 2
    out = choices.take(np.array([1]), 30)["input_ids"]  # [1, 4, 30]; pad_id 7 fills past each row
    np.testing.assert_array_equal(out[0, :, :24], np.where(padded["attention_mask"] > 0, padded["input_ids"], 7))
    assert np.all(out[0, :, 24:] == 7)
