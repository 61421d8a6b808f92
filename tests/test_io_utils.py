import os

import pytest

from bert_jax.io_utils import atomic_path, write_json


def test_failed_write_leaves_neither_target_nor_temp(tmp_path):
    target = tmp_path / "results.json"
    with pytest.raises(RuntimeError):
        with atomic_path(str(target)) as tmp:
            open(tmp, "w").write('{"half": ')
            raise RuntimeError("crash mid-write")
    assert os.listdir(tmp_path) == []


def test_write_replaces_previous_file_whole(tmp_path):
    target = tmp_path / "results.json"
    write_json(str(target), {"a": 1})
    write_json(str(target), {"b": 2})
    assert target.read_text() == '{\n  "b": 2\n}\n'
    assert os.listdir(tmp_path) == ["results.json"]
