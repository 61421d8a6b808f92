"""Readers for labelled task files: GLUE TSV, SWAG CSV, CoNLL-2003 column files and SQuAD JSON.

Each reader checks every row as the real files have it and raises ``DataError`` naming the file, the
1-based line and what was expected, before anything is trained or written.
"""

from __future__ import annotations

import csv
import dataclasses
import json
from typing import Iterator, Sequence


class DataError(ValueError):
    """A malformed input file; the message starts with ``path:line:``."""


def _lines(path: str) -> Iterator[tuple[int, str]]:
    """(line number, text without the newline); a UTF-8 BOM on line 1 is dropped. Reads bytes and
    decodes per line so that a bad byte is reported with its line."""
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    with f:
        for number, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise DataError(f"{path}:{number}: not UTF-8 text ({e.reason} at byte {e.start} of the line)") from None
            if number == 1:
                line = line.removeprefix("\ufeff")
            yield number, line.rstrip("\n").rstrip("\r")


# ---------------------------------------------------------------------------------------------- GLUE TSV
@dataclasses.dataclass
class TsvTable:
    """Rows of a tab-separated file. GLUE files are not CSV-quoted (quotes are text, as in Google's
    reader with quotechar=None), so a line is split on tabs only."""

    path: str
    header: list[str] | None
    rows: list[list[str]]
    line_numbers: list[int]

    def column(self, name: str | int) -> int:
        if isinstance(name, int):
            width = len(self.rows[0])
            if name >= width:
                raise DataError(f"{self.path}:{self.line_numbers[0]}: {width} tab-separated columns; column "
                                f"{name + 1} is needed")
            return name
        if self.header is None or name not in self.header:
            raise DataError(f"{self.path}:1: no column {name!r} in the header {self.header}")
        return self.header.index(name)


def read_tsv(path: str, has_header: bool, skip_malformed: bool = False) -> TsvTable:
    """Every row must have the header's number of columns (or the first row's, without a header).
    ``skip_malformed`` drops such rows instead of failing (the real QQP train file has a few)."""
    header, rows, numbers, width, skipped = None, [], [], None, 0
    for number, line in _lines(path):
        if not line.strip():
            continue  # blank lines (e.g. a trailing one) carry no example
        cells = line.split("\t")
        if has_header and header is None:
            header, width = cells, len(cells)
            continue
        width = len(cells) if width is None else width
        if len(cells) != width:
            if skip_malformed:
                skipped += 1
                continue
            raise DataError(f"{path}:{number}: {len(cells)} tab-separated columns, expected {width}"
                            + (f" ({header})" if header else ""))
        rows.append(cells)
        numbers.append(number)
    if not rows:
        raise DataError(f"{path}: no data rows")
    return TsvTable(path, header, rows, numbers)


# ---------------------------------------------------------------------------------------------- SWAG CSV
SWAG_COLUMNS = ("", "video-id", "fold-ind", "startphrase", "sent1", "sent2", "gold-source",
                "ending0", "ending1", "ending2", "ending3", "label")
SWAG_CHOICES = 4  # endings per example


@dataclasses.dataclass
class SwagExample:
    example_id: str  # the unnamed first column
    context: str  # sent1
    start: str  # sent2, the start of every ending
    endings: list[str]
    label: int | None  # None in test.csv


def read_swag_csv(path: str) -> list[SwagExample]:
    """SWAG's released train.csv / val.csv (with ``label``) or test.csv (without)."""
    try:
        f = open(path, encoding="utf-8", newline="")
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    examples = []
    with f:
        reader = csv.reader(f)
        try:
            header = next(reader, None)
            if not header:
                raise DataError(f"{path}:1: " + ("empty file" if header is None else "empty header line"))
            header[0] = header[0].removeprefix("\ufeff")
            expected = list(SWAG_COLUMNS) if "label" in header else list(SWAG_COLUMNS[:-1])
            if header != expected:
                raise DataError(f"{path}:1: header {header}, expected SWAG's {expected}")
            for row in reader:
                line = reader.line_num
                if not row:
                    continue
                if len(row) != len(header):
                    raise DataError(f"{path}:{line}: {len(row)} columns, expected {len(header)} ({header})")
                cell = dict(zip(header, row, strict=True))
                endings = [cell[f"ending{i}"] for i in range(SWAG_CHOICES)]
                for i, ending in enumerate(endings):
                    if not ending.strip():
                        raise DataError(f"{path}:{line}: ending{i} is empty; every example needs 4 endings")
                label = None
                if "label" in cell:
                    if cell["label"] not in ("0", "1", "2", "3"):
                        raise DataError(f"{path}:{line}: label {cell['label']!r}, expected 0, 1, 2 or 3")
                    label = int(cell["label"])
                examples.append(SwagExample(cell[""], cell["sent1"], cell["sent2"], endings, label))
        except UnicodeDecodeError as e:
            raise DataError(f"{path}:{reader.line_num + 1}: not UTF-8 text ({e.reason})") from None
        except csv.Error as e:
            raise DataError(f"{path}:{reader.line_num}: malformed CSV ({e})") from None
    if not examples:
        raise DataError(f"{path}: no examples")
    return examples


# ------------------------------------------------------------------------------------------ CoNLL-2003
@dataclasses.dataclass
class ConllSentence:
    words: list[str]
    tags: list[str]  # NER tags in the file's scheme
    lines: list[list[str]]  # every column of each token line, to write predictions back
    document: int  # index of the -DOCSTART- document (0 when the file has none)
    line_number: int  # of the first token


ENTITY_TYPES = ("PER", "ORG", "LOC", "MISC")
CONLL_TAGS = ("O",) + tuple(f"{p}-{t}" for t in ENTITY_TYPES for p in ("B", "I"))  # TFDS's order


def read_conll(path: str, columns: int = 4, tags: Sequence[str] = CONLL_TAGS) -> list[ConllSentence]:
    """Space-separated token lines (word POS chunk NER), blank lines between sentences, -DOCSTART-
    lines between documents. The NER tag is the last column."""
    sentences, current, document = [], None, -1
    known = set(tags)
    for number, line in _lines(path):
        if not line.strip():
            current = None
            continue
        cells = line.split()
        if cells[0] == "-DOCSTART-":
            document += 1
            current = None
            continue
        if len(cells) != columns:
            raise DataError(f"{path}:{number}: {len(cells)} columns, expected {columns} (word POS chunk NER)")
        if cells[-1] not in known:
            raise DataError(f"{path}:{number}: unknown tag {cells[-1]!r}; expected one of {sorted(known)}")
        if current is None:
            current = ConllSentence([], [], [], max(document, 0), number)
            sentences.append(current)
        current.words.append(cells[0])
        current.tags.append(cells[-1])
        current.lines.append(cells)
    if not sentences:
        raise DataError(f"{path}: no sentences")
    return sentences


def iob1_to_bio(tags: Sequence[str]) -> list[str]:
    """IOB1 (the original CoNLL-2003 files: I- opens an entity unless it follows one of the same type,
    B- only between two adjacent entities of one type) → BIO/IOB2 (every entity opens with B-)."""
    out, previous = [], "O"
    for tag in tags:
        if tag.startswith("I-") and (previous == "O" or previous[2:] != tag[2:]):
            tag = "B-" + tag[2:]
        out.append(tag)
        previous = tag
    return out


# ------------------------------------------------------------------------------------------ SQuAD JSON
@dataclasses.dataclass
class SquadExample:
    qid: str
    question: str
    context: str  # the paragraph; shared (the same str object) by its questions
    answers: list[tuple[str, int]]  # (text, answer_start in characters); [] when unanswerable
    is_impossible: bool = False  # v2.0
    title: str = ""

    def aligned(self, k: int = 0) -> bool:
        """Whether answer k's text is found at its answer_start in the context."""
        text, start = self.answers[k]
        return self.context[start:start + len(text)] == text


def _field(obj, key: str, kind, where: str, path: str):
    if not isinstance(obj, dict) or key not in obj:
        raise DataError(f"{path}: {where}: missing {key!r}")
    value = obj[key]
    if not isinstance(value, kind):
        raise DataError(f"{path}: {where}.{key}: {type(value).__name__}, expected {kind.__name__}")
    return value


def parse_articles(spec: str, key: str) -> slice:
    """'' → all articles; 'start:stop' (either may be empty) → that slice."""
    if not spec:
        return slice(None)
    parts = spec.split(":")
    try:
        if len(parts) != 2:
            raise ValueError
        start, stop = (int(p) if p.strip() else None for p in parts)
    except ValueError:
        raise ValueError(f"config.data.{key}={spec!r}; expected 'start:stop' (e.g. '0:16')") from None
    return slice(start, stop)


def read_squad_json(path: str, articles: slice = slice(None)) -> list[SquadExample]:
    """SQuAD v1.1 / v2.0 JSON ({"data": [{"title", "paragraphs": [{"context", "qas": [{"id",
    "question", "answers": [{"text", "answer_start"}], "is_impossible"?}]}]}]}), the articles in
    ``articles`` (a slice of the article list: train on some articles, evaluate on others).

    Structural problems (invalid JSON, a missing or empty field, a duplicate id) are errors naming the
    file and the JSON location. An answer whose text is not at its answer_start is kept (evaluation
    uses only texts); featurisation of training data skips and counts such questions, as the references do.
    """
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    try:
        document = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except json.JSONDecodeError as e:
        raise DataError(f"{path}:{e.lineno}:{e.colno}: not valid JSON ({e.msg})") from None
    data = _field(document, "data", list, "top level", path)
    examples, seen = [], set()
    for a in range(len(data))[articles]:
        title = data[a].get("title", "") if isinstance(data[a], dict) else ""
        for p, paragraph in enumerate(_field(data[a], "paragraphs", list, f"data[{a}]", path)):
            where = f"data[{a}].paragraphs[{p}]"
            context = _field(paragraph, "context", str, where, path)
            qas = _field(paragraph, "qas", list, where, path)
            if not context.strip() and qas:
                raise DataError(f"{path}: {where}.context is empty but the paragraph has {len(qas)} questions")
            for q, qa in enumerate(qas):
                at = f"{where}.qas[{q}]"
                qid = str(_field(qa, "id", object, at, path))
                question = _field(qa, "question", str, at, path)
                if not question.strip():
                    raise DataError(f"{path}: {at} (id {qid}): the question is empty")
                if qid in seen:
                    raise DataError(f"{path}: {at}: duplicate question id {qid!r}")
                seen.add(qid)
                impossible = bool(qa.get("is_impossible", False))
                answers = []
                for k, answer in enumerate(_field(qa, "answers", list, at, path)):
                    text = _field(answer, "text", str, f"{at}.answers[{k}]", path)
                    start = _field(answer, "answer_start", int, f"{at}.answers[{k}]", path)
                    answers.append((text, start))
                if impossible and answers:
                    raise DataError(f"{path}: {at} (id {qid}): is_impossible but has answers")
                examples.append(SquadExample(qid, question, context, answers, impossible, title))
    if not examples:
        raise DataError(f"{path}: no questions" + ("" if articles == slice(None) else f" in articles {articles}"))
    return examples
