"""One table of bad inputs across every reader and loader: each row is a file's bytes, the reader, and the
error it must give (our own error type, naming the file, and the line where there is one). Rows whose input
is acceptable (blank lines where the real files have them) give the expected result instead."""

import importlib.util
import os

import pytest

from bert_jax.data.glue_data import SUBTASKS, read_glue_tsv
from bert_jax.data.readers import DataError, read_conll, read_squad_json, read_swag_csv
from bert_jax.data.tokenizer import SentencePieceTokenizer, WordPieceTokenizer
from bert_jax.models.config import BertConfig
from bert_jax.run_plan import check_batch_sizes, check_run_settings
from bert_jax.sharding import get_rules, resolve_mesh_shape

CONFIGS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs")


def load_config_file(name: str, arg: str):
    spec = importlib.util.spec_from_file_location(name.removesuffix(".py"), os.path.join(CONFIGS, name))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config(arg)

RTE = "index\tsentence1\tsentence2\tlabel\n"
SWAG = ",video-id,fold-ind,startphrase,sent1,sent2,gold-source,ending0,ending1,ending2,ending3,label\n"
SWAG_ROW = '0,v,f,"A b",A b.,He,gold,x,y,z,w,0\n'
CONLL = "-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n"
SQUAD = '{"data": [{"title": "t", "paragraphs": [{"context": "c d", "qas": [%s]}]}]}'
QA = '{"id": "1", "question": "q?", "answers": [{"text": "c", "answer_start": 0}]}'
VOCAB = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\n"


def rte(p):
    return read_glue_tsv(p, SUBTASKS["rte"], labelled=True)


def stsb(p):
    return read_glue_tsv(p, SUBTASKS["stsb"], labelled=True)


def cola(p):
    return read_glue_tsv(p, SUBTASKS["cola"], labelled=True)


def count(result):
    return len(result.texts) if hasattr(result, "texts") else len(result)


CASES = [  # (id, reader, content, expected error regex with {f} for the file name, or an int = items read)
    ("tsv-columns", rte, RTE + "0\ta\tb\tentailment\n1\ta\tb\n", DataError, r"{f}:3: 3 tab-separated columns"),
    ("tsv-label", rte, RTE + "0\ta\tb\tmaybe\n", DataError, r"{f}:2: unknown label 'maybe'"),
    ("tsv-score", stsb, "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n"
                        "0\tg\tf\ty\t0\tn\tn\ta\tb\tfive\n", DataError, r"{f}:2: score 'five'"),
    ("tsv-utf8", rte, RTE.encode() + b"0\t\xff\tb\tentailment\n", DataError, r"{f}:2: not UTF-8"),
    ("tsv-empty", rte, "", DataError, r"{f}: no data rows"),
    ("tsv-header-only", rte, RTE, DataError, r"{f}: no data rows"),
    ("tsv-no-label-column", rte, "index\tsentence1\tsentence2\n0\ta\tb\n", DataError, r"{f}:1: no column 'label'"),
    ("tsv-too-few-columns", cola, "x\n", DataError, r"{f}:1: 1 tab-separated columns; column 4 is needed"),
    ("tsv-blank-lines", rte, RTE + "\n0\ta\tb\tentailment\n\n\n1\ta\tb\tnot_entailment\n\n", None, 2),
    ("csv-ending", read_swag_csv, SWAG + SWAG_ROW.replace(",z,", ",,"), DataError, r"{f}:2: ending2 is empty"),
    ("csv-columns", read_swag_csv, SWAG + SWAG_ROW.replace(",0\n", "\n"), DataError, r"{f}:2: 11 columns"),
    ("csv-label", read_swag_csv, SWAG + SWAG_ROW.replace(",0\n", ",9\n"), DataError, r"{f}:2: label '9'"),
    ("csv-header", read_swag_csv, "a,b\n1,2\n", DataError, r"{f}:1: header"),
    ("csv-utf8", read_swag_csv, SWAG.encode() + SWAG_ROW.encode().replace(b"He", b"H\xff"), DataError,
     r"{f}:\d+: not UTF-8"),
    ("csv-quote", read_swag_csv, SWAG + '0,v,f,"A b,A b.,He,gold,x,y,z,w,0\n', DataError, r"{f}:\d+: "),
    ("csv-empty", read_swag_csv, "", DataError, r"{f}:1: empty file"),
    ("csv-empty-first-line", read_swag_csv, "\n" + SWAG + SWAG_ROW, DataError, r"{f}:1: empty header line"),
    ("csv-no-rows", read_swag_csv, SWAG, DataError, r"{f}: no examples"),
    ("csv-blank-lines", read_swag_csv, SWAG + SWAG_ROW + "\n\n" + SWAG_ROW.replace("0,v", "1,v", 1), None, 2),
    ("conll-columns", read_conll, CONLL + "\nGerman JJ B-MISC\n", DataError, r"{f}:6: 3 columns, expected 4"),
    ("conll-tag", read_conll, CONLL + "German JJ B-NP B-FOO\n", DataError, r"{f}:5: unknown tag 'B-FOO'"),
    ("conll-utf8", read_conll, CONLL.encode() + b"G\xffrman JJ B-NP O\n", DataError, r"{f}:5: not UTF-8"),
    ("conll-empty", read_conll, "", DataError, r"{f}: no sentences"),
    ("conll-blank-lines", read_conll, "\n\n" + CONLL + "\n\n\n" + CONLL + "\n", None, 2),
    ("json-malformed", read_squad_json, '{"data": [}', DataError, r"{f}:1:11: not valid JSON"),
    ("json-empty", read_squad_json, "", DataError, r"{f}:1:1: not valid JSON"),
    ("json-utf8", read_squad_json, b'{"data": "\xff"}', DataError, r"{f}: not UTF-8"),
    ("json-no-data", read_squad_json, "[]", DataError, r"{f}: top level: missing 'data'"),
    ("json-no-context", read_squad_json, SQUAD.replace('"c d"', '""') % QA, DataError, r"{f}: data\[0\]"
     r"\.paragraphs\[0\]\.context is empty"),
    ("json-no-question", read_squad_json, SQUAD % QA.replace('"question": "q?", ', ""), DataError,
     r"{f}: data\[0\]\.paragraphs\[0\]\.qas\[0\]: missing 'question'"),
    ("json-start-type", read_squad_json, SQUAD % QA.replace('"answer_start": 0', '"answer_start": "0"'),
     DataError, r"answers\[0\]\.answer_start: str, expected int"),
    ("json-duplicate-id", read_squad_json, SQUAD % (QA + ", " + QA), DataError, r"duplicate question id '1'"),
    ("json-no-questions", read_squad_json, '{"data": []}', DataError, r"{f}: no questions"),
    ("vocab-no-cls", WordPieceTokenizer, VOCAB.replace("[CLS]\n", ""), ValueError, r"{f} lacks the special tokens"),
    ("vocab-no-sep-mask", WordPieceTokenizer, VOCAB.replace("[SEP]\n", "").replace("[MASK]\n", ""), ValueError,
     r"lacks the special tokens \['\[SEP\]', '\[MASK\]'\]"),
    ("vocab-empty", WordPieceTokenizer, "", ValueError, r"{f} is empty"),
    ("vocab-utf8", WordPieceTokenizer, VOCAB.encode() + b"h\xffllo\n", ValueError, r"{f}:7: not UTF-8"),
    ("sp-not-a-model", SentencePieceTokenizer, b"not a model", ValueError, r"{f}: not a SentencePiece model"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_table(tmp_path, case):
    name, reader, content, error, expected = case
    path = tmp_path / (name + (".model" if reader is SentencePieceTokenizer else ".txt"))
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    if error is None:
        assert count(reader(str(path))) == expected
        return
    with pytest.raises(error, match=expected.replace("{f}", str(path).replace(".", r"\."))):
        reader(str(path))


def _glue_config(**changes):
    config = load_config_file("glue.py", "rte")
    for key, value in changes.items():
        section, _, field = key.rpartition(".")
        (config[section] if section else config)[field] = value
    return config


def _override(key: str, value):
    """What `--config.<key>=<value>` does: the config files' configs are locked."""
    config = load_config_file("glue.py", "rte")
    config.lock()
    section, _, field = key.rpartition(".")
    setattr(config[section] if section else config, field, value)


MESH = {"data": 4, "fsdp": 2, "tensor": 1}
# (name, call, error type, message): settings a user types, checked before any data is read or compiled.
SETTINGS = [
    ("config-unknown-key", lambda: _override("optim.learnign_rate", 1.0), AttributeError,
     r'"learnign_rate" does not exist.*Did you mean "learning_rate"'),
    ("config-unknown-section", lambda: _override("optimizer", 1), AttributeError, r'"optimizer" does not exist'),
    ("mesh-too-big", lambda: resolve_mesh_shape({"data": 3, "fsdp": 4}, 8), ValueError,
     r"needs 12 devices but 8 are present"),
    ("mesh-two-fills", lambda: resolve_mesh_shape({"data": -1, "fsdp": -1}, 8), ValueError,
     r"at most one axis may be -1"),
    ("mesh-cannot-fill", lambda: resolve_mesh_shape({"data": -1, "tensor": 3}, 8), ValueError,
     r"8 devices are not divisible by 3"),
    ("mesh-unknown-axis", lambda: resolve_mesh_shape({"pipeline": 2}, 8), ValueError,
     r"mesh axes \['pipeline'\] are not known"),
    ("mesh-zero", lambda: resolve_mesh_shape({"data": 0}, 8), ValueError, r"sizes must be positive"),
    ("sharding-preset", lambda: get_rules("zero3"), ValueError, r"sharding preset 'zero3' is not known"),
    ("batch-not-divisible", lambda: check_batch_sizes(_glue_config(batch_size=12), MESH), ValueError,
     r"config\.batch_size=12 is not divisible by the data-parallel size 8"),
    ("eval-batch-not-divisible", lambda: check_batch_sizes(_glue_config(eval_batch_size=20), MESH), ValueError,
     r"config\.eval_batch_size=20 is not divisible"),
    ("nonfinite-policy", lambda: check_run_settings(_glue_config(nonfinite="ignore")), ValueError,
     r"config\.nonfinite='ignore'; expected 'skip' or 'stop'"),
    ("prng-impl", lambda: check_run_settings(_glue_config(prng_impl="philox")), ValueError,
     r"config\.prng_impl='philox'; expected one of \('threefry2x32', 'rbg', 'unsafe_rbg'\)"),
    ("attention-implementation-with-dropout",
     lambda: BertConfig.preset("tiny", attention_implementation="cudnn", dtype="bfloat16"), ValueError,
     r"attention_implementation='cudnn' has no attention dropout.*set it to 0\.0"),
    ("no-steps", lambda: check_run_settings(_glue_config(num_train_epochs=0.0, total_steps=0)), ValueError,
     r"config\.total_steps must be positive"),
    ("model-preset", lambda: BertConfig.preset("huge"), ValueError, r"unknown model preset 'huge'"),
    ("model-key", lambda: BertConfig.from_dict({"hidden_sise": 8}, source="config.json"), ValueError,
     r"config\.json: unknown config key 'hidden_sise'"),
    ("model-activation", lambda: BertConfig.preset("tiny", hidden_act="swish2"), ValueError,
     r"hidden_act='swish2'; expected one of"),
]


@pytest.mark.parametrize("case", SETTINGS, ids=[c[0] for c in SETTINGS])
def test_bad_settings_table(case):
    _, call, error, message = case
    with pytest.raises(error, match=message):
        call()


def _raised(function, *args) -> Exception:
    with pytest.raises(Exception) as info:  # noqa: B017  (any error: the test classifies it)
        function(*args)
    return info.value


def test_the_cli_prints_a_check_s_message_in_one_line_and_keeps_tracebacks_for_everything_else(tmp_path):
    """main.py decides by where the error was raised: an explicit `raise` of ours is a check that rejected the
    input (one line, exit 1; tests/test_finetune.py and others run those through the CLI), anything else is a
    failure whose traceback is needed."""
    from bert_jax import main, tasks
    from bert_jax.data.sources import split_sentences

    unknown_task = _raised(tasks.get, "nope")
    assert main.check_failed(unknown_task)
    assert main.one_line(unknown_task).startswith("error: config.task.name='nope' is not a known task")
    (tmp_path / "broken.json").write_text('{"data": [}')
    assert main.check_failed(_raised(read_squad_json, str(tmp_path / "broken.json")))
    assert not main.check_failed(_raised(split_sentences, None))  # a library error inside our code: a bug
    assert not main.check_failed(_raised(int, "x"))  # raised outside bert_jax
    missing = KeyError("the message")
    assert main.one_line(missing) == "error: the message"  # not "'the message'"


def test_a_config_override_that_names_no_field_says_which_and_the_closest_field():
    """ml_collections rejects such an override from inside absl's parse (a KeyError / AttributeError that app.run
    printed as a 40-line traceback); main.py names the field and the closest one, from the config's own fields."""
    from bert_jax import main

    config = load_config_file("glue.py", "mrpc")
    cases = {
        "--config.optim.learning_rat=5e-5": "config.optim has no field 'learning_rat'; "
                                            "did you mean --config.optim.learning_rate?",
        "--config.learning_rate=5e-5": "the config has no field 'learning_rate'; "
                                       "did you mean --config.optim.learning_rate?",  # the name, in another group
        "--config.data.max_seq_len=64": "did you mean --config.data.max_seq_length?",
        "--config.batch_size.x=1": "config.batch_size is a value, not a group of fields",
        "--config.zzzqqq=1": "the config has no field 'zzzqqq'; the config has: allow_config_change, ",
    }
    for arg, expected in cases.items():
        problem = main.missing_config_field(config, arg)
        assert problem.startswith(arg.split("=")[0] + ": ") and expected in problem, (arg, problem)
    assert main.missing_config_field(config, "--config.optim.learning_rate=1e-4") is None
    assert main.missing_config_field(config, "--workdir=x") is None


@pytest.mark.parametrize("config_form", ["--config=FILE", "--config FILE"])
@pytest.mark.parametrize("arg, message", [
    ("--config.optim.learning_rat=5e-5", "error: --config.optim.learning_rat: config.optim has no field "
                                         "'learning_rat'; did you mean --config.optim.learning_rate?"),
    ("--config.optim.learning_rate=abc", "error: flag --config.optim.learning_rate=abc: could not convert string "
                                         "to float: 'abc' (--helpfull lists the flags)"),
])
def test_the_cli_prints_a_bad_flag_in_one_line_and_exits_1(tmp_path, arg, message, config_form):
    import subprocess
    import sys

    from tests.xla_env import cli_env

    config = f"{CONFIGS}/glue.py:mrpc"
    config_args = [f"--config={config}"] if config_form == "--config=FILE" else ["--config", config]
    proc = subprocess.run([sys.executable, "-m", "bert_jax.main", *config_args, f"--workdir={tmp_path / 'run'}",
                           arg], capture_output=True, text=True, env=cli_env(), timeout=120)
    assert proc.returncode == 1 and proc.stderr.strip() == message, proc.stderr[-2000:]
    assert not (tmp_path / "run").exists()  # nothing written
