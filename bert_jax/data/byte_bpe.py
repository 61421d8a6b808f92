"""RoBERTa's byte-level BPE (GPT-2's byte alphabet; 'Ġ' marks a piece that follows a space) from vocab.json +
merges.txt or a tokenizer.json, as a bert_jax Tokenizer.

The pipeline is RobertaTokenizerFast's, built from HF `tokenizers` parts: no normalizer, ByteLevel
pre-tokenizer (``add_prefix_space`` as configured), BPE, offsets trimmed of the leading space, ``<mask>``
swallowing the space before it. tokenizer.py assembles <s> A </s></s> B </s> with one token type.
"""

from __future__ import annotations

import json
import os

from bert_jax.data.tokenizer import RustTokenizerBackend
from bert_jax.io_utils import write_json

ROBERTA_SPECIALS = ("<pad>", "<unk>", "<s>", "</s>", "<mask>")  # pad, unk, cls, sep, mask


class ByteLevelBPETokenizer(RustTokenizerBackend):
    special_tokens = ROBERTA_SPECIALS
    pair_separators = 2
    second_type_id = 0

    def __init__(self, vocab: dict[str, int], merges: list[tuple[str, str]], source: str,
                 add_prefix_space: bool = False):
        from tokenizers import AddedToken, decoders, models, pre_tokenizers, processors
        from tokenizers import Tokenizer as RustTokenizer

        self.vocab_file = source
        self.vocab, self.merges, self.add_prefix_space = vocab, merges, add_prefix_space
        rust = RustTokenizer(models.BPE(vocab, merges))
        rust.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=add_prefix_space)
        rust.decoder = decoders.ByteLevel()
        self._rust = rust
        super().__init__()  # checks the specials are in the vocab
        # RobertaTokenizerFast's post-processor: run without special tokens it only trims offsets.
        rust.post_processor = processors.RobertaProcessing((self.sep_token, self.sep_id), (self.cls_token, self.cls_id),
                                                           trim_offsets=True, add_prefix_space=add_prefix_space)
        rust.add_special_tokens([AddedToken("<mask>", lstrip=True, rstrip=False), "<s>", "</s>", "<pad>", "<unk>"])

    # --- construction from files ---
    @classmethod
    def from_files(cls, vocab_file: str, merges_file: str, add_prefix_space: bool = False) -> "ByteLevelBPETokenizer":
        """RoBERTa's vocab.json + merges.txt (a '#version' first line is skipped)."""
        for path in (vocab_file, merges_file):
            if not os.path.exists(path):
                raise FileNotFoundError(f"{os.path.dirname(path) or '.'}: byte-level BPE needs vocab.json and "
                                        f"merges.txt; {os.path.basename(path)} is missing")
        vocab = _read_json(vocab_file)
        merges = []
        with open(merges_file, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                line = line.rstrip("\n")
                if not line or (number == 1 and line.startswith("#version")):
                    continue
                parts = line.split(" ")
                if len(parts) != 2:
                    raise ValueError(f"{merges_file}:{number}: expected two pieces separated by a space, got {line!r}")
                merges.append((parts[0], parts[1]))
        return cls(vocab, merges, vocab_file, add_prefix_space)

    @classmethod
    def from_tokenizer_json(cls, path: str, add_prefix_space: bool | None = None) -> "ByteLevelBPETokenizer":
        """A tokenizer.json holding a byte-level BPE model (RoBERTa's, GPT-2's)."""
        spec = _read_json(path)
        model = spec.get("model") or {}
        if model.get("type") != "BPE" or "ByteLevel" not in json.dumps(spec.get("pre_tokenizer")):
            raise ValueError(f"{path}: not a byte-level BPE tokenizer (model {model.get('type')!r}); bert_jax reads "
                             "WordPiece from vocab.txt and SentencePiece from its .model file")
        merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model.get("merges", [])]
        if add_prefix_space is None:
            add_prefix_space = bool((spec.get("pre_tokenizer") or {}).get("add_prefix_space", False))
        return cls(model["vocab"], merges, path, add_prefix_space)

    def for_words(self) -> "ByteLevelBPETokenizer":
        if self.add_prefix_space:
            return self
        return ByteLevelBPETokenizer(self.vocab, self.merges, self.vocab_file, add_prefix_space=True)

    def _is_continuation(self, token: str) -> bool:
        return not token.startswith("\u0120")

    def save(self, directory):
        os.makedirs(directory, exist_ok=True)
        write_json(os.path.join(directory, "vocab.json"), self.vocab)
        with open(os.path.join(directory, "merges.txt"), "w", encoding="utf-8") as f:
            f.write("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in self.merges))
        write_json(os.path.join(directory, "tokenizer_config.json"),
                   {"tokenizer_class": "RobertaTokenizer", "add_prefix_space": self.add_prefix_space,
                    "model_max_length": 512, "bos_token": "<s>", "eos_token": "</s>", "cls_token": "<s>",
                    "sep_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>",
                    # As roberta-base's: <mask> takes the space before it, so "a <mask>" is 2 tokens, not 3.
                    "mask_token": {"__type": "AddedToken", "content": "<mask>", "lstrip": True, "rstrip": False,
                                   "normalized": False, "single_word": False, "special": True}})


def _read_json(path: str):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None
