"""Training a new vocabulary from text files: WordPiece (→ Google-style vocab.txt), SentencePiece, or RoBERTa's
byte-level BPE (→ vocab.json + merges.txt)."""

from __future__ import annotations

import glob
import json
import os
from typing import TYPE_CHECKING, Sequence

from bert_jax.data.tokenizer import SPECIAL_TOKENS, SentencePieceTokenizer, WordPieceTokenizer
from bert_jax.io_utils import write_text

if TYPE_CHECKING:
    from bert_jax.data.byte_bpe import ByteLevelBPETokenizer


def _expand(files: Sequence[str] | str) -> list[str]:
    patterns = [files] if isinstance(files, str) else list(files)
    paths = sorted({p for pattern in patterns for p in (glob.glob(pattern) or [pattern])})
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise FileNotFoundError(f"training text not found: {missing[:5]}")
    if not paths or all(os.path.getsize(p) == 0 for p in paths):
        raise ValueError(f"no training text in {patterns}")
    return paths


def train_wordpiece(files: Sequence[str] | str, vocab_size: int, out_dir: str, lowercase: bool = True,
                    min_frequency: int = 2, limit_alphabet: int = 1000) -> WordPieceTokenizer:
    """Learns a WordPiece vocab with BERT's normalisation and writes ``out_dir/vocab.txt`` in Google's
    layout: [PAD] [UNK] [CLS] [SEP] [MASK] first, then single characters, their '##' forms, and the merged
    pieces by merge order.

    The same text gives the same vocab every time. The `tokenizers` trainer alone does not: it numbers each
    '##c' piece when it first meets it while walking a hash map of words, and breaks ties between equally
    frequent merges by those numbers (huggingface/tokenizers#1794; three runs on the quickstart's corpus gave
    three vocabs). So a first pass, stopped before any merge, finds the '##c' pieces (a set that does not
    depend on the walk), and the real pass gets them as reserved tokens in code-point order."""
    paths = _expand(files)
    first = _train_wordpiece_pass(paths, 1, lowercase, min_frequency, limit_alphabet, list(SPECIAL_TOKENS))
    continuing = sorted(t for t in first if t.startswith("##") and len(t) == 3)
    vocab = _train_wordpiece_pass(paths, vocab_size, lowercase, min_frequency, limit_alphabet,
                                  [*SPECIAL_TOKENS, *continuing])
    layout = {t: 0 for t in SPECIAL_TOKENS} | {t: 2 for t in continuing}
    ordered = sorted(vocab, key=lambda t: (layout.get(t, 1 if len(t) == 1 else 3), vocab[t]))
    os.makedirs(out_dir, exist_ok=True)
    vocab_file = os.path.join(out_dir, "vocab.txt")
    write_text(vocab_file, "".join(f"{t}\n" for t in ordered))
    tokenizer = WordPieceTokenizer(vocab_file, lowercase=lowercase)
    tokenizer.save(out_dir)
    return tokenizer


def _train_wordpiece_pass(paths: list[str], vocab_size: int, lowercase: bool, min_frequency: int,
                          limit_alphabet: int, reserved: list[str]) -> dict[str, int]:
    """One run of the `tokenizers` WordPiece trainer; ``reserved`` tokens take the first ids, in order."""
    from tokenizers import Tokenizer as RustTokenizer
    from tokenizers import models, normalizers, pre_tokenizers, trainers

    rust = RustTokenizer(models.WordPiece(unk_token="[UNK]"))
    rust.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, lowercase=lowercase)
    rust.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, limit_alphabet=limit_alphabet,
        special_tokens=reserved, continuing_subword_prefix="##", show_progress=False,
    )
    rust.train(paths, trainer)
    return rust.get_vocab()


def train_sentencepiece(files: Sequence[str] | str, vocab_size: int, out_dir: str, lowercase: bool = True,
                        model_type: str = "unigram", character_coverage: float = 0.9995,
                        input_sentence_size: int = 2_000_000, seed: int = 0, albert: bool = False):
    """Trains ``out_dir/spiece.model`` with BERT's special pieces at ids 0-4 ([PAD] [UNK] [CLS] [SEP]
    [MASK]); ``lowercase`` selects NFKC with case folding as the model's own normaliser. ``albert``: ALBERT's
    layout instead (<pad> <unk> [CLS] [SEP] [MASK], NFKC, lowercasing by the tokenizer): an AlbertTokenizer."""
    import sentencepiece as spm

    from bert_jax.data.albert_spm import ALBERT_SPECIALS, AlbertTokenizer

    paths = _expand(files)
    os.makedirs(out_dir, exist_ok=True)
    prefix = os.path.join(out_dir, "spiece")
    spm.set_random_generator_seed(seed)  # sentence sampling is random; fix it for a reproducible vocab
    spm.SentencePieceTrainer.train(
        input=paths, model_prefix=prefix, vocab_size=vocab_size, model_type=model_type,
        character_coverage=character_coverage, input_sentence_size=input_sentence_size,
        shuffle_input_sentence=True, seed_sentencepiece_size=1_000_000,
        pad_id=0, pad_piece=ALBERT_SPECIALS[0] if albert else "[PAD]", unk_id=1,
        unk_piece=ALBERT_SPECIALS[1] if albert else "[UNK]", bos_id=-1, eos_id=-1,
        control_symbols=["[CLS]", "[SEP]", "[MASK]"],
        normalization_rule_name="nmt_nfkc_cf" if lowercase and not albert else "nmt_nfkc",
        minloglevel=2, num_threads=os.cpu_count() or 1,
    )
    os.remove(prefix + ".vocab")  # the .model file holds the vocab; a stale .vocab only misleads
    tokenizer = AlbertTokenizer(prefix + ".model", lowercase) if albert else SentencePieceTokenizer(prefix + ".model")
    tokenizer.save(out_dir)
    return tokenizer


def train_byte_level_bpe(files: Sequence[str] | str, vocab_size: int, out_dir: str, min_frequency: int = 2
                         ) -> "ByteLevelBPETokenizer":
    """Learns RoBERTa's kind of vocab: byte-level BPE over GPT-2's 256-byte alphabet (no unknown token is ever
    needed), the specials <s> <pad> </s> <unk> at ids 0-3 as RoBERTa has them and <mask> last; writes
    ``out_dir/vocab.json`` and ``merges.txt``. No lowercasing: RoBERTa is cased."""
    from tokenizers import Tokenizer as RustTokenizer
    from tokenizers import models, pre_tokenizers, trainers

    from bert_jax.data.byte_bpe import ByteLevelBPETokenizer

    paths = _expand(files)
    rust = RustTokenizer(models.BPE())
    rust.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size - 1, min_frequency=min_frequency, show_progress=False,
                                  special_tokens=["<s>", "<pad>", "</s>", "<unk>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    rust.train(paths, trainer)
    vocab = rust.get_vocab()
    vocab["<mask>"] = len(vocab)
    spec = json.loads(rust.to_str())
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in spec["model"]["merges"]]
    tokenizer = ByteLevelBPETokenizer(vocab, merges, os.path.join(out_dir, "vocab.json"))
    tokenizer.save(out_dir)
    return tokenizer
