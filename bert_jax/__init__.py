"""bert_jax: BERT pretraining and fine-tuning in JAX/Flax.

Public API:
    BertConfig, BertModel, BertWithHead and the heads    (bert_jax.models)
    from_pretrained(path, head=None) -> (model, params)   HF directory (BERT, RoBERTa, ALBERT, DistilBERT) or
                                                          Google TF1 checkpoint
    save_pretrained(params, config, out_dir, tokenizer)   HF directory transformers can load
    load_tokenizer(path), WordPieceTokenizer, SentencePieceTokenizer, ByteLevelBPETokenizer, AlbertTokenizer,
    train_wordpiece, train_sentencepiece, train_byte_level_bpe
"""

from bert_jax.convert import save_pretrained
from bert_jax.data.albert_spm import AlbertTokenizer
from bert_jax.data.byte_bpe import ByteLevelBPETokenizer
from bert_jax.data.tokenizer import SentencePieceTokenizer, Tokenizer, WordPieceTokenizer, load_tokenizer
from bert_jax.data.vocab_training import train_byte_level_bpe, train_sentencepiece, train_wordpiece
from bert_jax.models.bert import BertConfig, BertModel, BertOutput
from bert_jax.models.heads import (
    BertWithHead,
    MaskedLMHead,
    MultipleChoiceHead,
    PretrainingHeads,
    SequenceClassificationHead,
    SpanHead,
    TokenTaggingHead,
)
from bert_jax.pretrained import from_pretrained

__all__ = [
    "BertConfig", "BertModel", "BertOutput", "BertWithHead", "MaskedLMHead", "MultipleChoiceHead",
    "PretrainingHeads", "SequenceClassificationHead", "SpanHead", "TokenTaggingHead", "from_pretrained",
    "save_pretrained", "load_tokenizer", "Tokenizer", "WordPieceTokenizer", "SentencePieceTokenizer",
    "train_wordpiece", "train_sentencepiece", "ByteLevelBPETokenizer", "AlbertTokenizer", "train_byte_level_bpe",
]
