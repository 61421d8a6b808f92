"""ALBERT's SentencePiece tokenizer (spiece.model) as a bert_jax Tokenizer, with character offsets.

transformers does not run SentencePiece for ALBERT: it builds an HF `tokenizers` pipeline from spiece.model's
pieces, scores and precompiled normaliser (AlbertTokenizer, transformers 5). This builds the same pipeline:
`` and '' → ", NFKD without accents and lowercasing (unless configured otherwise), the model's own precompiled
normalisation, split on whitespace (ALBERT's remove_space), '▁' before every word, a Unigram model over the
pieces with their own scores. (transformers 4's converter scored pieces ending in "digit," 100 lower, as
Google's tokenizer split them; transformers 5 does not, and neither does this.)
"""

from __future__ import annotations

import os
import shutil

from bert_jax.data.tokenizer import RustTokenizerBackend
from bert_jax.io_utils import write_json

ALBERT_SPECIALS = ("<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]")  # pad, unk, cls, sep, mask
_CONTROL, _USER_DEFINED = 3, 4  # SentencePiece piece types


def _read_model(model_file: str):
    from sentencepiece import sentencepiece_model_pb2

    if not os.path.exists(model_file):
        raise FileNotFoundError(f"{os.path.dirname(model_file) or '.'}: ALBERT's tokenizer needs spiece.model; "
                                f"{model_file} is missing")
    proto = sentencepiece_model_pb2.ModelProto()
    try:
        with open(model_file, "rb") as f:
            proto.ParseFromString(f.read())
    except Exception as e:  # protobuf's DecodeError and friends
        raise ValueError(f"{model_file}: not a SentencePiece model ({e})") from None
    if not proto.pieces:
        raise ValueError(f"{model_file}: not a SentencePiece model (no pieces)")
    if proto.trainer_spec.model_type != 1:
        raise ValueError(f"{model_file}: ALBERT's SentencePiece model is a unigram model; this one has "
                         f"model_type {proto.trainer_spec.model_type}")
    return proto


class AlbertTokenizer(RustTokenizerBackend):
    special_tokens = ALBERT_SPECIALS

    def __init__(self, model_file: str, lowercase: bool = True, keep_accents: bool = False):
        from tokenizers import AddedToken, decoders, models, normalizers, pre_tokenizers
        from tokenizers import Tokenizer as RustTokenizer

        self.model_file, self.lowercase, self.keep_accents = model_file, lowercase, keep_accents
        proto = _read_model(model_file)
        self.vocab = {p.piece: i for i, p in enumerate(proto.pieces)}
        rust = RustTokenizer(models.Unigram([(p.piece, p.score) for p in proto.pieces],
                                            unk_id=proto.trainer_spec.unk_id, byte_fallback=False))
        steps = [normalizers.Replace("``", '"'), normalizers.Replace("''", '"')]
        if not keep_accents:
            steps += [normalizers.NFKD(), normalizers.StripAccents()]
        if lowercase:
            steps.append(normalizers.Lowercase())
        if proto.normalizer_spec.precompiled_charsmap:
            steps.append(normalizers.Precompiled(proto.normalizer_spec.precompiled_charsmap))
        rust.normalizer = normalizers.Sequence(steps)
        rust.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.WhitespaceSplit(),
            pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)])
        rust.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always")
        rust.add_tokens([AddedToken(p.piece, normalized=False, special=p.type == _CONTROL)
                         for p in proto.pieces if p.type in (_CONTROL, _USER_DEFINED)])
        self._rust = rust
        super().__init__()

    def _is_continuation(self, token: str) -> bool:
        return not token.startswith("\u2581")

    def save(self, directory):
        os.makedirs(directory, exist_ok=True)
        target = os.path.join(directory, "spiece.model")
        if os.path.abspath(target) != os.path.abspath(self.model_file):
            shutil.copyfile(self.model_file, target)
        write_json(os.path.join(directory, "tokenizer_config.json"),
                   {"tokenizer_class": "AlbertTokenizer", "do_lower_case": self.lowercase,
                    "keep_accents": self.keep_accents, "model_max_length": 512})
