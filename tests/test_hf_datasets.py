"""config.data.source=hf: Hugging Face datasets (local copies in the hub's layout, written with `datasets`
from ../shared/data) give the same examples and features as the released files."""

import json
import os

import numpy as np
import pytest
from hub_layout import write_conll, write_glue, write_squad, write_swag
from test_finetune import cli
from test_finetune import write_swag as write_swag_csv
from test_squad import squad_config

from bert_jax.config_base import finetuning_config
from bert_jax.data import conll_data, glue_data, hf_datasets, squad_data, swag_data

pytest.importorskip("datasets")


@pytest.fixture(scope="module")
def rte_hub(shared_data, tmp_path_factory):
    return write_glue(os.path.join(shared_data, "glue", "RTE"), "rte", str(tmp_path_factory.mktemp("glue_hub")))


@pytest.fixture(scope="module")
def conll_hub(shared_data, tmp_path_factory):
    return write_conll(os.path.join(shared_data, "conll2003"), str(tmp_path_factory.mktemp("conll_hub")))


SQUAD_FILE = ("squad", "v1.1", "dev-v1.1.even-articles.json")


@pytest.fixture(scope="module")
def squad_hub(shared_data, tmp_path_factory):
    return write_squad(os.path.join(shared_data, *SQUAD_FILE), str(tmp_path_factory.mktemp("squad_hub")))


def _squad_config():
    return squad_config("version=1,runlocal")


def _squad_data(**values):
    data = _squad_config().data
    data.update(values)
    return data


def _assert_same_features(make_task, files: dict, hub: dict, split: str = "train") -> None:
    """make_task(**data settings) → a task; its featurized split from the files and from the hub copy."""
    from_files, from_hub = make_task(**files).featurize(split), make_task(**hub).featurize(split)
    assert from_files.arrays.keys() == from_hub.arrays.keys()
    np.testing.assert_array_equal(from_files.lengths, from_hub.lengths)
    every, width = np.arange(len(from_files)), int(from_files.lengths.max())
    a, b = from_files.take(every, width), from_hub.take(every, width)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def _train_from_hub(config_arg: str, dataset: str, minilm_dir: str, workdir, *extra) -> dict:
    """The real CLI on a hub-layout copy → eval_results.json. The runlocal tiny model with MiniLM's vocab:
    the data path is the point here (runs from the real checkpoint: test_finetune.py's RTE, test_squad.py)."""
    cli(config_arg, workdir, "--config.data.source=hf", f"--config.data.dataset={dataset}",
        f"--config.data.vocab={os.path.join(minilm_dir, 'vocab.txt')}", *extra)
    return json.loads((workdir / "eval_results.json").read_text())


def _data(**values):
    data = finetuning_config("glue").data
    data.update(values)
    return data


@pytest.mark.parametrize("split", ["train", "dev"])
def test_glue_examples_from_the_hub_layout_equal_the_tsv_files(shared_data, rte_hub, split):
    sub = glue_data.SUBTASKS["rte"]
    files = glue_data.read_split("rte", sub, split, _data(dir=os.path.join(shared_data, "glue", "RTE")))
    hub = glue_data.read_split("rte", sub, split, _data(source="hf", dataset=rte_hub))
    assert hub.texts == files.texts and hub.index == files.index
    np.testing.assert_array_equal(hub.labels, files.labels)


def test_glue_test_split_has_no_labels_and_the_label_names_come_from_the_classlabel(rte_hub):
    sub = glue_data.SUBTASKS["rte"]
    test = glue_data.read_split("rte", sub, "test", _data(source="hf", dataset=rte_hub))
    assert len(test.texts) > 0 and (test.labels == -1).all()
    ds = hf_datasets.load_split(rte_hub, "rte", "validation")
    assert hf_datasets.label_names(ds, "label") == ["entailment", "not_entailment"]


def test_missing_split_and_unknown_source_are_named(rte_hub):
    with pytest.raises(FileNotFoundError, match=r"rte: no parquet files for split 'validation_matched'"):
        hf_datasets.load_split(rte_hub, "rte", "validation_matched")
    with pytest.raises(ValueError, match="config.data.dataset is empty"):
        hf_datasets.load_split("", "rte", "train")
    with pytest.raises(ValueError, match=r"config.data.source='csv'; expected 'files', 'tfds' or 'hf'"):
        glue_data.read_split("rte", glue_data.SUBTASKS["rte"], "train", _data(source="csv"))


def test_glue_features_through_the_task_are_identical(shared_data, rte_hub, minilm_dir):
    from bert_jax.tasks.glue import GlueTask

    def task(**data):
        config = finetuning_config("glue")
        config.task.subtask = "rte"
        config.init_from = minilm_dir
        config.data.update(data)
        return GlueTask(config, "unused")

    _assert_same_features(task, {"dir": os.path.join(shared_data, "glue", "RTE")},
                          {"source": "hf", "dataset": rte_hub})


@pytest.mark.slow
def test_glue_trains_from_the_hub_layout_through_the_cli(rte_hub, minilm_dir, tmp_path):
    results = _train_from_hub("glue.py:rte,runlocal", rte_hub, minilm_dir, tmp_path / "run")
    assert 0 <= results["accuracy"] <= 1
    assert (tmp_path / "run" / "predictions" / "glue" / "RTE.tsv").exists()  # the test split's submission file


@pytest.mark.parametrize("split", ["train", "dev"])
def test_conll_sentences_from_the_hub_layout_equal_the_column_files(shared_data, conll_hub, split):
    files = conll_data.read_split(split, _data(dir=os.path.join(shared_data, "conll2003")))
    hub = conll_data.read_split(split, _data(source="hf", dataset=conll_hub))
    assert [s.words for s in hub] == [s.words for s in files]
    assert [s.tags for s in hub] == [s.tags for s in files]
    assert [s.lines for s in hub] == [s.lines for s in files]  # the columns written back with predictions


def test_ner_features_through_the_task_are_identical(shared_data, conll_hub, minilm_dir):
    from bert_jax.tasks.ner import NerTask

    def task(**data):
        config = finetuning_config("ner")
        config.init_from = minilm_dir
        config.data.update(train_limit=300, **data)
        return NerTask(config, "unused")

    _assert_same_features(task, {"dir": os.path.join(shared_data, "conll2003")},
                          {"source": "hf", "dataset": conll_hub})


@pytest.mark.slow
def test_ner_trains_from_the_hub_layout_through_the_cli(conll_hub, minilm_dir, tmp_path):
    assert 0 <= _train_from_hub("ner.py:runlocal", conll_hub, minilm_dir, tmp_path / "run")["f1"] <= 1


def test_squad_examples_from_the_hub_layout_equal_the_json_file(shared_data, squad_hub):
    folder, name = os.path.join(shared_data, *SQUAD_FILE[:-1]), SQUAD_FILE[-1]
    files = squad_data.read_split("dev", "v1.1", _squad_data(dir=folder, dev_file=name), slice(2, 5))
    hub = squad_data.read_split("dev", "v1.1", _squad_data(source="hf", dataset=squad_hub), slice(2, 5))
    assert len(hub) > 0
    assert [(e.qid, e.question, e.context, e.answers, e.title, e.is_impossible) for e in hub] == \
        [(e.qid, e.question, e.context, e.answers, e.title, e.is_impossible) for e in files]
    # Questions of one paragraph share its context object, as the JSON reader's do.
    assert len({id(e.context) for e in hub}) == len({e.context for e in hub})


def test_squad_features_through_the_task_are_identical(shared_data, squad_hub, minilm_dir):
    from bert_jax.tasks.squad import SquadTask

    def task(**data):
        config = _squad_config()
        config.init_from = minilm_dir
        config.data.update(train_articles="0:2", **data)
        return SquadTask(config, "unused")

    folder, name = os.path.join(shared_data, *SQUAD_FILE[:-1]), SQUAD_FILE[-1]
    _assert_same_features(task, {"dir": folder, "train_file": name}, {"source": "hf", "dataset": squad_hub})


@pytest.mark.slow
def test_squad_trains_from_the_hub_layout_through_the_cli(squad_hub, minilm_dir, tmp_path):
    results = _train_from_hub("squad.py:version=1,runlocal", squad_hub, minilm_dir, tmp_path / "run",
                              "--config.data.train_articles=0:2", "--config.data.dev_articles=2:3")
    assert 0 <= results["exact"] <= 100 and 0 <= results["f1"] <= 100


@pytest.fixture(scope="module")
def swag_files_and_hub(tmp_path_factory):
    """A hand-made SWAG folder in the released CSV layout (train, val, unlabelled test) and its hub copy."""
    folder = tmp_path_factory.mktemp("swag")
    write_swag_csv(folder / "train.csv", 32)
    write_swag_csv(folder / "val.csv", 12, seed=1)
    write_swag_csv(folder / "test.csv", 5, labelled=False, seed=2)
    return str(folder), write_swag(str(folder), str(tmp_path_factory.mktemp("swag_hub")))


@pytest.mark.parametrize("split", ["train", "dev", "test"])
def test_swag_examples_from_the_hub_layout_equal_the_csv_files(swag_files_and_hub, split):
    folder, hub = swag_files_and_hub
    files = swag_data.read_split(split, _data(dir=folder))
    assert swag_data.read_split(split, _data(source="hf", dataset=hub)) == files and len(files) > 0


@pytest.mark.slow
def test_swag_trains_from_the_hub_layout_through_the_cli(swag_files_and_hub, minilm_dir, tmp_path):
    results = _train_from_hub("swag.py:runlocal", swag_files_and_hub[1], minilm_dir, tmp_path / "run")
    assert 0 <= results["accuracy"] <= 1
    assert (tmp_path / "run" / "predictions" / "test.csv").exists()  # the hub copy's unlabelled test split
