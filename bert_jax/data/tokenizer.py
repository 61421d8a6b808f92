"""One Tokenizer interface over the BERT family's backends: WordPiece (Google vocab.txt; ids identical to HF
BertTokenizerFast, built from HF `tokenizers`), byte-level BPE (RoBERTa: byte_bpe.py), SentencePiece
(`sentencepiece` for our own vocabularies; ALBERT's spiece.model: albert_spm.py).

Backends only split text into pieces with character offsets and word indices; this module assembles
[CLS] A [SEP] (B [SEP]) (RoBERTa: <s> A </s></s> B </s>, one token type), truncates as Google's
``_truncate_seq_pair`` does, and pads, so every backend behaves identically around the pieces. Vocab training
lives in vocab_training.py.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from typing import Iterable, Sequence

import numpy as np

from bert_jax.io_utils import write_json

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
TRUNCATION = ("longest_first", "only_first", "only_second")


@dataclasses.dataclass
class Pieces:
    """One text split by a backend, without special tokens."""

    ids: list[int]
    offsets: list[tuple[int, int]]  # character spans in the text
    word_ids: list[int]  # index of the word each piece belongs to


@dataclasses.dataclass
class Encoding:
    """One encoded example; all lists have the same length (``max_length`` when padded).

    offsets index into the text the token came from (``sequence_ids`` says which: 0 text, 1 pair,
    None for special and padding tokens, whose offsets are (0, 0)).
    """

    input_ids: list[int]
    token_type_ids: list[int]
    attention_mask: list[int]
    offsets: list[tuple[int, int]]
    sequence_ids: list[int | None]
    word_ids: list[int | None]


def truncate_pair(len_a: int, len_b: int, budget: int, strategy: str) -> tuple[int, int]:
    """Lengths to keep so that len_a + len_b <= budget. 'longest_first' removes one token at a time from
    the longer sequence, from B on ties (Google's _truncate_seq_pair)."""
    if strategy not in TRUNCATION:
        raise ValueError(f"truncation={strategy!r}; expected one of {TRUNCATION} (or True/False)")
    excess = len_a + len_b - budget
    if excess <= 0:
        return len_a, len_b
    if strategy == "only_first":
        if excess > len_a:
            raise ValueError(f"cannot fit the pair in {budget} tokens by truncating only the first text")
        return len_a - excess, len_b
    if strategy == "only_second":
        if excess > len_b:
            raise ValueError(f"cannot fit the pair in {budget} tokens by truncating only the second text")
        return len_a, len_b - excess
    # Closed form of the pop-one-from-the-longer loop.
    if len_a > len_b:
        take_a = min(excess, len_a - len_b)
        len_a, excess = len_a - take_a, excess - take_a
    elif len_b > len_a:
        take_b = min(excess, len_b - len_a)
        len_b, excess = len_b - take_b, excess - take_b
    # Now equal: alternate, B first.
    return len_a - excess // 2, len_b - (excess - excess // 2)


class Tokenizer:
    """Common assembly, truncation and padding; subclasses implement ``_split_batch`` and the vocab.

    A backend names its special tokens (``special_tokens``: pad, unk, cls, sep, mask) and its pair format:
    ``pair_separators`` sep tokens between the texts (RoBERTa 2) and ``second_type_id``, the token type of
    the second text and its sep (RoBERTa 0: one token type).
    """

    special_tokens: tuple[str, str, str, str, str] = SPECIAL_TOKENS
    pair_separators = 1
    second_type_id = 1

    def __init__(self):
        missing = [t for t in self.special_tokens if self.token_to_id(t) is None]
        if missing:
            raise ValueError(f"{self.source}: the vocabulary lacks the special tokens {missing}")
        self.pad_token, self.unk_token, self.cls_token, self.sep_token, self.mask_token = self.special_tokens
        self.pad_id, self.unk_id, self.cls_id, self.sep_id, self.mask_id = (
            self.token_to_id(t) for t in self.special_tokens
        )

    @property
    def source(self) -> str:
        """The file the vocabulary came from, for error messages."""
        return getattr(self, "vocab_file", None) or getattr(self, "model_file", None) or type(self).__name__

    def for_words(self) -> "Tokenizer":
        """The tokenizer for text that arrives split into words (NER): each word is split as if a space
        preceded it. Byte-level BPE needs a prefix space for that (``add_prefix_space``); others are themselves."""
        return self

    # --- backend hooks ---
    def _split_batch(self, texts: Sequence[str]) -> list[Pieces]:
        raise NotImplementedError

    @property
    def vocab_size(self) -> int:
        raise NotImplementedError

    def token_to_id(self, token: str) -> int | None:
        raise NotImplementedError

    def id_to_token(self, index: int) -> str:
        raise NotImplementedError

    def decode(self, ids: Iterable[int], skip_special_tokens: bool = True) -> str:
        raise NotImplementedError

    def save(self, directory: str) -> None:
        raise NotImplementedError

    # --- shared behaviour ---
    @property
    def special_ids(self) -> frozenset[int]:
        return frozenset((self.pad_id, self.unk_id, self.cls_id, self.sep_id, self.mask_id))

    def split(self, texts: Sequence[str]) -> list[Pieces]:
        """Pieces (ids, offsets, word ids) of each text, without special tokens."""
        return self._split_batch(list(texts))

    def continuation_mask(self) -> np.ndarray:
        """[vocab] bool: True for pieces that continue a word (WordPiece '##x'; SentencePiece pieces
        without the '▁' word start; byte-level BPE pieces without the 'Ġ' space), for whole-word masking."""
        tokens = [self.id_to_token(i) for i in range(self.vocab_size)]
        return np.array([self._is_continuation(t) and t not in self.special_tokens for t in tokens], bool)

    def pair_row(self, a: Sequence[int], b: Sequence[int]) -> tuple[list[int], list[int]]:
        """Piece ids of two texts → (ids, token types) of the pair with its special tokens; the second text
        starts at ``len(a) + 1 + pair_separators``."""
        ids = [self.cls_id, *a, *([self.sep_id] * self.pair_separators), *b, self.sep_id]
        first = len(a) + 1 + self.pair_separators
        return ids, [0] * first + [self.second_type_id] * (len(b) + 1)

    def _is_continuation(self, token: str) -> bool:
        return token.startswith("##")

    def tokenize(self, text: str) -> list[str]:
        return [self.id_to_token(i) for i in self._split_batch([text])[0].ids]

    def encode(self, text: str, pair: str | None = None, max_length: int | None = None,
               truncation: bool | str = True, padding: bool | str = False) -> Encoding:
        """[CLS] text [SEP] (pair [SEP]); see ``encode_batch`` for the arguments."""
        texts = [text] + ([pair] if pair is not None else [])
        pieces = self._split_batch(texts)
        return self._assemble(pieces[0], pieces[1] if pair is not None else None, max_length, truncation, padding)

    def encode_many(self, texts: Sequence[str], pairs: Sequence[str] | None = None, max_length: int | None = None,
                    truncation: bool | str = True) -> list[Encoding]:
        """Encodes many examples, unpadded (the featurizers pad once, per batch); arguments as ``encode_batch``."""
        if pairs is not None and len(pairs) != len(texts):
            raise ValueError(f"encode_batch: {len(texts)} texts but {len(pairs)} pairs")
        split = self._split_batch(list(texts) + (list(pairs) if pairs is not None else []))
        n = len(texts)
        return [self._assemble(split[i], split[n + i] if pairs is not None else None, max_length, truncation, False)
                for i in range(n)]

    def encode_batch(self, texts: Sequence[str], pairs: Sequence[str] | None = None, max_length: int | None = None,
                     truncation: bool | str = True, padding: str = "longest", return_offsets: bool = False
                     ) -> dict[str, np.ndarray]:
        """Encodes many examples into int32 arrays [batch, length].

        Args:
          max_length: total length including special tokens; longer inputs are truncated when
            ``truncation`` is True / 'longest_first' / 'only_first' / 'only_second', else an error.
          padding: 'longest' (pad to the longest in the batch) or 'max_length'.
          return_offsets: also return offsets [batch, length, 2], sequence_ids and word_ids
            [batch, length] (-1 where None).
        """
        if padding not in ("longest", "max_length"):
            raise ValueError(f"padding={padding!r}; expected 'longest' or 'max_length'")
        if padding == "max_length" and max_length is None:
            raise ValueError("padding='max_length' needs max_length")
        encodings = self.encode_many(texts, pairs, max_length, truncation)
        n = len(encodings)
        width = max_length if padding == "max_length" else max((len(e.input_ids) for e in encodings), default=0)
        out = {k: np.zeros((n, width), np.int32) for k in ("input_ids", "token_type_ids", "attention_mask")}
        if self.pad_id:
            out["input_ids"][:] = self.pad_id
        if return_offsets:
            out["offsets"] = np.zeros((n, width, 2), np.int32)
            out["sequence_ids"] = np.full((n, width), -1, np.int32)
            out["word_ids"] = np.full((n, width), -1, np.int32)
        for i, e in enumerate(encodings):
            m = len(e.input_ids)
            out["input_ids"][i, :m] = e.input_ids
            out["token_type_ids"][i, :m] = e.token_type_ids
            out["attention_mask"][i, :m] = 1
            if return_offsets:
                out["offsets"][i, :m] = e.offsets
                out["sequence_ids"][i, :m] = [-1 if s is None else s for s in e.sequence_ids]
                out["word_ids"][i, :m] = [-1 if w is None else w for w in e.word_ids]
        return out

    def _assemble(self, a: Pieces, b: Pieces | None, max_length: int | None, truncation, padding) -> Encoding:
        n_special = 2 + self.pair_separators if b is not None else 2
        len_a, len_b = len(a.ids), (len(b.ids) if b is not None else 0)
        if max_length is not None:
            if max_length < n_special:
                raise ValueError(f"max_length={max_length} leaves no room for the {n_special} special tokens")
            budget = max_length - n_special
            if len_a + len_b > budget:
                if truncation is False:
                    raise ValueError(
                        f"input has {len_a + len_b + n_special} tokens, more than max_length={max_length}, "
                        "and truncation is off"
                    )
                strategy = "longest_first" if truncation is True else truncation
                if b is None:
                    if strategy == "only_second":
                        raise ValueError("truncation='only_second' needs a pair")
                    len_a = budget
                else:
                    len_a, len_b = truncate_pair(len_a, len_b, budget, strategy)
        ids = [self.cls_id, *a.ids[:len_a], self.sep_id]
        offsets = [(0, 0), *a.offsets[:len_a], (0, 0)]
        seq_ids: list[int | None] = [None, *([0] * len_a), None]
        word_ids: list[int | None] = [None, *a.word_ids[:len_a], None]
        types = [0] * (len_a + 2)
        if b is not None:
            extra = self.pair_separators - 1  # RoBERTa's second </s> before B
            ids += [self.sep_id] * extra + [*b.ids[:len_b], self.sep_id]
            offsets += [(0, 0)] * extra + [*b.offsets[:len_b], (0, 0)]
            seq_ids += [None] * extra + [*([1] * len_b), None]
            word_ids += [None] * extra + [*b.word_ids[:len_b], None]
            types += [0] * extra + [self.second_type_id] * (len_b + 1)
        mask = [1] * len(ids)
        if padding in ("max_length", True) and max_length is not None:
            extra = max_length - len(ids)
            ids += [self.pad_id] * extra
            types += [0] * extra
            mask += [0] * extra
            offsets += [(0, 0)] * extra
            seq_ids += [None] * extra
            word_ids += [None] * extra
        return Encoding(ids, types, mask, offsets, seq_ids, word_ids)


class RustTokenizerBackend(Tokenizer):
    """A backend whose pieces come from an HF `tokenizers` pipeline (``self._rust``, built by the subclass
    before ``super().__init__()``) over the vocab ``self.vocab`` {token: id}."""

    vocab: dict[str, int]
    _rust: object

    def _split_batch(self, texts):
        encodings = self._rust.encode_batch(list(texts), add_special_tokens=False)
        return [Pieces(e.ids, e.offsets, e.word_ids) for e in encodings]

    @property
    def _inverse(self) -> dict[int, str]:
        if getattr(self, "_inverse_cache", None) is None:
            self._inverse_cache = {i: t for t, i in self.vocab.items()}
        return self._inverse_cache

    @property
    def vocab_size(self) -> int:
        return len(self._inverse)

    def token_to_id(self, token):
        return self.vocab.get(token)

    def id_to_token(self, index):
        return self._inverse[int(index)]

    def decode(self, ids, skip_special_tokens=True):
        return self._rust.decode([int(i) for i in ids], skip_special_tokens=skip_special_tokens)


class WordPieceTokenizer(RustTokenizerBackend):
    """BERT's WordPiece from a Google vocab.txt.

    Normalisation and splitting are BertNormalizer + BertPreTokenizer from HF `tokenizers` (clean text,
    CJK characters split, punctuation split, lowercase and accent stripping in uncased mode), then greedy
    longest-match WordPiece with [UNK] for words over 100 characters: the same pipeline as
    BertTokenizerFast, built from vocab.txt alone.
    """

    def __init__(self, vocab_file: str, lowercase: bool = True, strip_accents: bool | None = None,
                 max_input_chars_per_word: int = 100):
        from tokenizers import Tokenizer as RustTokenizer
        from tokenizers import decoders, models, normalizers, pre_tokenizers

        self.vocab_file = vocab_file
        self.lowercase = lowercase
        self.strip_accents = strip_accents
        self.vocab = read_vocab(vocab_file)
        rust = RustTokenizer(models.WordPiece(self.vocab, unk_token="[UNK]",
                                              max_input_chars_per_word=max_input_chars_per_word))
        rust.normalizer = normalizers.BertNormalizer(
            clean_text=True, handle_chinese_chars=True, strip_accents=strip_accents, lowercase=lowercase
        )
        rust.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        rust.decoder = decoders.WordPiece(prefix="##")
        # As BertTokenizerFast: a literal "[MASK]" in the text is the special token, not "[", "mask", "]".
        rust.add_special_tokens(list(SPECIAL_TOKENS))
        self._rust = rust
        super().__init__()

    def save(self, directory):
        os.makedirs(directory, exist_ok=True)
        target = os.path.join(directory, "vocab.txt")
        if os.path.abspath(target) != os.path.abspath(self.vocab_file):
            shutil.copyfile(self.vocab_file, target)
        config = {"tokenizer_class": "BertTokenizer", "do_lower_case": self.lowercase,
                  "strip_accents": self.strip_accents, "model_max_length": 512,
                  **{f"{t[1:-1].lower()}_token": t for t in SPECIAL_TOKENS}}
        write_json(os.path.join(directory, "tokenizer_config.json"), config)


class SentencePieceTokenizer(Tokenizer):
    """A SentencePiece model with BERT's special pieces ([PAD] [UNK] [CLS] [SEP] [MASK], e.g. as
    vocab_training.train_sentencepiece makes them). Normalisation is the model's own (e.g. nmt_nfkc_cf)."""

    def __init__(self, model_file: str):
        import sentencepiece as spm

        self.model_file = model_file
        self._sp = spm.SentencePieceProcessor()
        try:
            self._sp.Load(model_file)
        except (OSError, RuntimeError) as e:
            raise ValueError(f"{model_file}: not a SentencePiece model ({e})") from None
        super().__init__()

    def _split_batch(self, texts):
        try:
            protos = self._sp.encode(list(texts), return_type="proto")
        except TypeError:  # sentencepiece < 0.2.1 names it differently
            protos = self._sp.encode(list(texts), out_type="immutable_proto")
        out = []
        for text, proto in zip(texts, protos, strict=True):
            # begin/end are byte offsets into the UTF-8 input: map them to character offsets.
            char_at_byte = np.cumsum([0] + [len(c.encode("utf-8")) for c in text])
            ids, offsets, word_ids, word = [], [], [], -1
            for piece in proto.pieces:
                if piece.piece.startswith("\u2581") or word < 0:
                    word += 1
                ids.append(piece.id)
                start = int(np.searchsorted(char_at_byte, piece.begin))
                end = int(np.searchsorted(char_at_byte, piece.end))
                offsets.append((start, end))
                word_ids.append(word)
            out.append(Pieces(ids, offsets, word_ids))
        return out

    @property
    def vocab_size(self) -> int:
        return self._sp.GetPieceSize()

    def _is_continuation(self, token: str) -> bool:
        return not token.startswith("\u2581")

    def token_to_id(self, token):
        index = self._sp.PieceToId(token)
        return index if self._sp.IdToPiece(index) == token else None

    def id_to_token(self, index):
        return self._sp.IdToPiece(int(index))

    def decode(self, ids, skip_special_tokens=True):
        ids = [int(i) for i in ids]
        if skip_special_tokens:
            ids = [i for i in ids if i not in self.special_ids]
        return self._sp.DecodeIds(ids)

    def save(self, directory):
        os.makedirs(directory, exist_ok=True)
        target = os.path.join(directory, "spiece.model")
        if os.path.abspath(target) != os.path.abspath(self.model_file):
            shutil.copyfile(self.model_file, target)
        write_json(os.path.join(directory, "tokenizer_config.json"), {"tokenizer_class": "SentencePiece"})


def read_vocab(path: str) -> dict[str, int]:
    """vocab.txt: one token per line, id = line number (a repeated token keeps its last id, as HF)."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"vocab file {path} does not exist")
    tokens = []
    with open(path, "rb") as f:
        for number, raw in enumerate(f, 1):
            try:
                tokens.append(raw.decode("utf-8").rstrip("\n").rstrip("\r"))
            except UnicodeDecodeError as e:
                raise ValueError(f"{path}:{number}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    vocab = {t: i for i, t in enumerate(tokens)}
    if not vocab:
        raise ValueError(f"vocab file {path} is empty")
    missing = [t for t in SPECIAL_TOKENS if t not in vocab]
    if missing:
        raise ValueError(f"vocab file {path} lacks the special tokens {missing}; BERT needs {list(SPECIAL_TOKENS)}")
    return vocab


# The files that define a tokenizer directory's vocab, in the order they are looked for: SentencePiece models
# (ALBERT/T5-style names), WordPiece's vocab.txt, byte-level BPE's vocab.json (+ merges.txt), then a
# tokenizer.json (byte-level BPE only: a BERT directory has its vocab.txt beside it).
TOKENIZER_FILES = ("spiece.model", "sentencepiece.model", "tokenizer.model", "vocab.txt", "vocab.json",
                   "tokenizer.json")


def tokenizer_file(path: str) -> str | None:
    """The file that defines the tokenizer at ``path``: ``path`` itself when it is a file, else the first of
    TOKENIZER_FILES in the directory (None when there is none)."""
    if not os.path.isdir(path):
        return path if os.path.isfile(path) else None
    for name in TOKENIZER_FILES:
        if os.path.exists(os.path.join(path, name)):
            return os.path.join(path, name)
    return None


def _is_albert_model(model_file: str, settings: dict) -> bool:
    """An ALBERT spiece.model (its tokenizer_config says so, or its pad piece is ALBERT's <pad>) rather than one
    of our own SentencePiece vocabularies with BERT's [PAD]."""
    if "albert" in str(settings.get("tokenizer_class", "")).lower():
        return True
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor()
    try:
        sp.Load(model_file)
    except (OSError, RuntimeError) as e:
        raise ValueError(f"{model_file}: not a SentencePiece model ({e})") from None
    return sp.PieceToId("[PAD]") == sp.unk_id() and sp.IdToPiece(0) == "<pad>"


def load_tokenizer(path: str, lowercase: bool | None = None) -> Tokenizer:
    """A vocab.txt, .model, vocab.json or tokenizer.json file, or a directory holding one of TOKENIZER_FILES
    (HF or our layout).

    For a directory, do_lower_case / strip_accents / keep_accents / add_prefix_space come from
    tokenizer_config.json when present; ``lowercase`` overrides.
    """
    settings = {}
    directory = path if os.path.isdir(path) else os.path.dirname(path)
    config_path = os.path.join(directory, "tokenizer_config.json")
    if os.path.isdir(path) and os.path.exists(config_path):
        with open(config_path, encoding="utf-8") as f:
            settings = json.load(f)
    defining = tokenizer_file(path)
    if defining is None:
        raise FileNotFoundError(f"{path}: no tokenizer file (one of {', '.join(TOKENIZER_FILES)})")
    name = os.path.basename(defining)
    if name.endswith(".model"):
        if _is_albert_model(defining, settings):
            from bert_jax.data.albert_spm import AlbertTokenizer

            do_lower = settings.get("do_lower_case", True) if lowercase is None else lowercase
            return AlbertTokenizer(defining, lowercase=do_lower, keep_accents=settings.get("keep_accents", False))
        return SentencePieceTokenizer(defining)
    if name.endswith(".json"):
        from bert_jax.data.byte_bpe import ByteLevelBPETokenizer

        prefix_space = settings.get("add_prefix_space")
        if name == "tokenizer.json":
            return ByteLevelBPETokenizer.from_tokenizer_json(defining, prefix_space)
        return ByteLevelBPETokenizer.from_files(defining, os.path.join(os.path.dirname(defining), "merges.txt"),
                                                bool(prefix_space))
    if os.path.isdir(path):
        do_lower = settings.get("do_lower_case", True) if lowercase is None else lowercase
        return WordPieceTokenizer(defining, lowercase=do_lower, strip_accents=settings.get("strip_accents"))
    return WordPieceTokenizer(path, lowercase=True if lowercase is None else lowercase)
