"""Raw-text sources for pretraining: documents as lists of sentences, streamed.

Formats:
  - 'sentences': Google's create_pretraining_data input: one sentence per line, blank lines between
    documents (BookCorpus / Wikipedia dumps prepared for BERT).
  - 'plain': ordinary text files; each file is a document, paragraphs (blank-line separated) are split
    into sentences with a simple punctuation rule.
  - 'tfds': a TensorFlow Datasets text corpus (e.g. 'wikipedia/20230601.en'), one example = one document,
    its text field split into paragraphs at newlines and then into sentences; the data must be prepared
    (``tfds build``) in ``data_dir``: nothing is downloaded here.
  - 'python_docstrings': the offline default corpus: the docstrings of the Python standard library that
    is installed with the interpreter (English prose every machine with Python has; read with `ast`,
    nothing is imported or executed). One module = one document.
"""

from __future__ import annotations

import ast
import functools
import glob
import os
import re
import sysconfig
from typing import Iterator, Sequence

Document = list[str]

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])")


def split_sentences(paragraph: str) -> list[str]:
    """Splits on ., ! or ? followed by space and a capital or digit; keeps abbreviations mostly whole."""
    text = " ".join(paragraph.split())
    return [s for s in _SENTENCE_END.split(text) if s]


def expand_paths(patterns: Sequence[str] | str) -> list[str]:
    patterns = [patterns] if isinstance(patterns, str) else list(patterns)
    paths = sorted({p for pattern in patterns for p in glob.glob(os.path.expanduser(pattern))})
    if not paths:
        raise FileNotFoundError(f"no corpus files match {patterns}")
    return paths


def read_sentence_files(paths: Sequence[str]) -> Iterator[Document]:
    """Google's format: one sentence per line, documents separated by blank lines."""
    for path in paths:
        with open(path, encoding="utf-8", errors="replace") as f:
            document: Document = []
            for line in f:
                line = line.strip()
                if line:
                    document.append(line)
                elif document:
                    yield document
                    document = []
            if document:
                yield document


def read_plain_files(paths: Sequence[str]) -> Iterator[Document]:
    """Each file one document; paragraphs split into sentences."""
    for path in paths:
        with open(path, encoding="utf-8", errors="replace") as f:
            paragraphs = re.split(r"\n\s*\n", f.read())
        document = [s for p in paragraphs for s in split_sentences(p)]
        if document:
            yield document


def _prose(docstring: str) -> list[str]:
    """Sentences of a docstring's prose paragraphs; code, doctests and tables are dropped."""
    sentences = []
    for paragraph in re.split(r"\n\s*\n", docstring):
        lines = [ln.strip() for ln in paragraph.strip().splitlines()]
        if not lines or any(ln.startswith((">>>", "...", "$", "|", "+-", "--", "==", ":")) for ln in lines):
            continue
        text = " ".join(lines)
        letters = sum(c.isalpha() or c == " " for c in text)
        if len(text) < 40 or letters < 0.85 * len(text):
            continue
        sentences.extend(split_sentences(text))
    return sentences


def python_docstring_documents(root: str | None = None) -> Iterator[Document]:
    """Docstrings of the installed standard library (tests excluded), one module per document. The corpus
    (~1.5 MB of text) is parsed once per process and kept: a preparation reads it three times (the vocab,
    then the train and held-out pairs), and parsing the ~1,000 modules with `ast` takes ~7 s each time."""
    for document in _parsed_docstring_documents(root or sysconfig.get_paths()["stdlib"]):
        yield list(document)


@functools.lru_cache(maxsize=2)
def _parsed_docstring_documents(root: str) -> tuple[tuple[str, ...], ...]:
    paths = sorted(glob.glob(os.path.join(root, "**", "*.py"), recursive=True))
    documents = []
    for path in paths:
        relative = os.path.relpath(path, root)
        if "site-packages" in relative or re.search(r"(^|/)(test|tests|idle_test)(/|$)", relative):
            continue
        try:
            with open(path, encoding="utf-8") as f:
                tree = ast.parse(f.read())
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        document = []
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node)
                if doc:
                    document.extend(_prose(doc))
        if len(document) >= 2:
            documents.append(tuple(document))
    return tuple(documents)


def tfds_documents(name: str, split: str = "train", data_dir: str | None = None,
                   text_key: str = "text") -> Iterator[Document]:
    """Documents from a prepared TFDS text dataset."""
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        raise ImportError("corpus source 'tfds' needs tensorflow-datasets: pip install 'bert_jax[tfds]'") from None
    dataset = tfds.load(name, split=split, data_dir=data_dir or None, download=False)
    for example in tfds.as_numpy(dataset):
        if text_key not in example:
            raise KeyError(f"TFDS {name}: examples have no {text_key!r} field; they have {sorted(example)}")
        text = example[text_key]
        text = text.decode("utf-8", errors="replace") if isinstance(text, bytes) else str(text)
        document = [s for paragraph in text.split("\n") for s in split_sentences(paragraph)]
        if document:
            yield document


def read_documents(source: str, paths: Sequence[str] | str | None = None, **tfds_options) -> Iterator[Document]:
    """Documents from a named source; see the module docstring for the formats. For 'tfds', ``paths`` is
    the dataset name and ``tfds_options`` are tfds_documents' split / data_dir / text_key."""
    if source == "python_docstrings":
        return python_docstring_documents()
    if source == "tfds":
        if not paths:
            raise ValueError("corpus source 'tfds' needs the dataset name in config.data.paths")
        return tfds_documents(paths if isinstance(paths, str) else paths[0], **tfds_options)
    if source == "sentences":
        return read_sentence_files(expand_paths(paths or []))
    if source == "plain":
        return read_plain_files(expand_paths(paths or []))
    raise ValueError(f"corpus source {source!r} is not known; expected 'sentences', 'plain', 'tfds' or "
                     "'python_docstrings'")
