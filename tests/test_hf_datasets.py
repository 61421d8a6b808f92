"""config.data.source=hf: Hugging Face datasets (local copies in the hub's layout, written with `datasets`
from ../shared/data) give the same examples and features as the released files."""

import json
import os

import numpy as np
import pytest
from hub_layout import write_glue
from test_finetune import cli

from bert_jax.config_base import finetuning_config
from bert_jax.data import glue_data, hf_datasets

pytest.importorskip("datasets")


@pytest.fixture(scope="module")
def rte_hub(shared_data, tmp_path_factory):
    return write_glue(os.path.join(shared_data, "glue", "RTE"), "rte", str(tmp_path_factory.mktemp("glue_hub")))


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

    def features(**data):
        config = finetuning_config("glue")
        config.task.subtask = "rte"
        config.init_from = minilm_dir
        config.data.update(data)
        return GlueTask(config, "unused").featurize("train")

    files = features(dir=os.path.join(shared_data, "glue", "RTE"))
    hub = features(source="hf", dataset=rte_hub)
    assert files.arrays.keys() == hub.arrays.keys()
    for name in files.arrays:
        np.testing.assert_array_equal(files.arrays[name], hub.arrays[name], err_msg=name)


@pytest.mark.slow
def test_glue_trains_from_the_hub_layout_through_the_cli(rte_hub, minilm_dir, tmp_path):
    workdir = tmp_path / "run"
    cli("glue.py:rte,runlocal", workdir, "--config.data.source=hf", f"--config.data.dataset={rte_hub}",
        f"--config.init_from={minilm_dir}")
    results = json.loads((workdir / "eval_results.json").read_text())
    assert 0 <= results["accuracy"] <= 1
    assert (workdir / "predictions" / "glue" / "RTE.tsv").exists()  # the test split's submission file
