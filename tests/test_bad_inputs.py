"""One table of bad inputs across every reader and loader: each row is a file's bytes, the reader, and the
error it must give (our own error type, naming the file, and the line where there is one). Rows whose input
is acceptable (blank lines where the real files have them) give the expected result instead."""

import pytest

from bert_jax.data.readers import DataError, read_conll, read_squad_json, read_swag_csv
from bert_jax.data.tokenizer import SentencePieceTokenizer, WordPieceTokenizer
from bert_jax.tasks.glue import SUBTASKS, read_glue_tsv

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
