"""Defaults shared by the config files in configs/ (every key a run may set, grouped by section)."""

from __future__ import annotations

import ml_collections

from bert_jax.data import widths


def parse_arg(arg: str | None, positional: str | None = None, **defaults) -> ml_collections.ConfigDict:
    """'runlocal,phase=2' → {'runlocal': True, 'phase': 2}; values typed like the defaults. A bare word
    that is not a key sets ``positional`` ('rte,runlocal' → task='rte' for glue.py)."""
    out = dict(defaults)
    for item in filter(None, (arg or "").split(",")):
        key, _, value = item.partition("=")
        if positional and not value and key not in defaults:
            key, value = positional, key
        if key not in defaults:
            raise ValueError(f"config argument {key!r} is not known; expected one of {sorted(defaults)}")
        default = defaults[key]
        if not value:
            out[key] = True
        elif isinstance(default, bool):
            out[key] = value.lower() in ("1", "true", "yes")
        else:
            out[key] = type(default)(value) if default is not None else value
    return ml_collections.ConfigDict(out)


# jax key implementation for init and dropout. JAX documents 'rbg'/'unsafe_rbg' as faster to generate on
# accelerators than threefry's hash rounds (the one H100 comparison here is inconclusive: docs/performance.md);
# 'threefry2x32' (JAX's default) gives the same random bits however the computation is sharded.
PRNG_IMPL_DEFAULT = "threefry2x32"
PRNG_IMPLS = ("threefry2x32", "rbg", "unsafe_rbg")


def model_section() -> ml_collections.ConfigDict:
    """config.model: a BertConfig preset and the performance switches, settable from the command line
    (``--config.model.attention_implementation=cudnn``). None means "what the preset or init_from says";
    any other BertConfig field may be added in a config file."""
    return ml_collections.ConfigDict({
        "preset": "base", "dtype": "float32",
        "attention_implementation": "xla",  # xla | cudnn (NVIDIA, bf16) | splash (TPU); models/attention.py
        "remat_policy": "none", "scan_layers": False,  # unrolled: faster steps; True: faster compiles
        "one_hot_word_embeddings": False,  # True: word lookups as a one-hot matmul (TPU, large batches)
        # The fused attention kernels need 0.0 here (they have no attention dropout).
        "attention_probs_dropout_prob": ml_collections.config_dict.placeholder(float),
        # Size and family fields a command line may change (None: the preset's / init_from's).
        "num_hidden_layers": ml_collections.config_dict.placeholder(int),
        "hidden_dropout_prob": ml_collections.config_dict.placeholder(float),
        "model_type": ml_collections.config_dict.placeholder(str),  # models/families.py: bert, roberta, ...
        "type_vocab_size": ml_collections.config_dict.placeholder(int),
        "use_pooler": ml_collections.config_dict.placeholder(bool),
    })


def model_overrides(config) -> dict:
    """The BertConfig fields that config.model sets (everything but preset and unset placeholders)."""
    return {k: v for k, v in config.model.items() if k != "preset" and v is not None}


def run_config() -> ml_collections.ConfigDict:
    """The keys every run has, pretraining and fine-tuning alike, each default written here once; a
    family's factory below changes the ones its recipe sets differently."""
    c = ml_collections.ConfigDict()
    # BertConfig preset plus any BertConfig field (dtype, remat_policy, hidden_dropout_prob, ...).
    c.model = model_section()
    c.optim = ml_collections.ConfigDict(dict(
        name="adamw", learning_rate=5e-5, warmup_steps=0,
        warmup_fraction=0.0,  # >0: warmup_steps = this fraction of total_steps (when warmup_steps is 0)
        schedule="linear", power=1.0, weight_decay=0.01, b1=0.9, b2=0.999, eps=1e-6, clip_norm=1.0,
        accumulate_steps=1,
    ))
    c.num_train_epochs = 0.0  # >0 with total_steps 0: the steps of this many passes over the training set
    c.total_steps = 0  # >0: the run's length, whatever num_train_epochs says
    c.batch_size = 32  # global, in sequences (examples for fine-tuning)
    c.eval_batch_size = 64
    c.eval_batches = 0  # 0 = the whole eval split
    c.num_devices = 0  # 0 = every device; n = the first n (debugging, single-device references)
    c.mesh = ml_collections.ConfigDict({"data": -1, "fsdp": 1, "tensor": 1})
    c.dcn_mesh = ml_collections.ConfigDict({})  # multi-slice: slices per axis
    c.sharding = "dp"  # 'dp' | 'fsdp' | 'fsdp_tp'
    c.log_every = 50
    c.eval_every = -1  # -1: once per epoch
    c.ckpt_every = -1  # -1: once per epoch
    c.keep_checkpoints = 1
    c.async_checkpointing = True
    c.select_best = False  # final results and predictions from the best eval score (the task's selection metric)
    c.init_from = ""  # HF dir, TF checkpoint dir or a bert_jax workdir: encoder weights
    c.init_head = False  # also take the head from init_from (continued pretraining, phase 2)
    c.seed = 0
    c.prng_impl = PRNG_IMPL_DEFAULT  # threefry2x32 | rbg | unsafe_rbg (cheaper dropout masks on accelerators)
    c.allow_config_change = False  # resume a workdir whose config.json differs from this config
    c.nonfinite = "skip"  # NaN/Inf loss or gradients: skip the update and count it ('skip') or end the run ('stop')
    return c


def pretraining_config() -> ml_collections.ConfigDict:
    """Google's pretraining recipe: Adam with Google's weight decay (bert_adam), lr 1e-4, 10k warmup steps."""
    c = run_config()
    c.task = ml_collections.ConfigDict({"name": "pretrain"})
    c.data = ml_collections.ConfigDict(dict(
        source="sentences",  # 'sentences' (Google's format) | 'plain' | 'tfds' | 'python_docstrings' (offline)
        paths="",  # comma-separated globs; for 'tfds' the dataset name, e.g. 'wikipedia/20230601.en'
        tfds_split="train",
        tfds_data_dir="",  # where the TFDS data was prepared (default: TFDS's own)
        text_key="text",
        dir="",  # prepared data; default <workdir>/data
        vocab="",  # vocab.txt / tokenizer dir; empty → train a vocab of vocab_type on the corpus
        vocab_type="wordpiece",  # wordpiece | byte_bpe (RoBERTa) | albert_sentencepiece
        vocab_size=30522,
        lowercase=True,
        max_seq_length=128,
        max_predictions_per_seq=20,
        masked_lm_prob=0.15,
        short_seq_prob=0.1,
        dupe_factor=1,
        whole_word_mask=False,
        max_ngram=1,  # >1: ALBERT's n-gram masking (spans of up to this many words, p(n) ∝ 1/n)
        sentence_task="nsp",  # nsp (BERT) | sop (ALBERT: sentence order) | none (RoBERTa: FULL-SENTENCES rows)
        dynamic_masking=True,
        eval_document_stride=20,  # every 20th document is held out for eval
        documents_per_block=100_000,
        pack_per_row=1,  # >1: pack up to this many consecutive pairs per row (segment ids, restarted positions)
    ))
    c.optim.update(name="bert_adam", learning_rate=1e-4, warmup_steps=10_000, eps=0.0)
    c.batch_size = 256
    c.eval_batches = 50
    c.total_steps = 1_000_000
    c.sharding = "fsdp"
    c.log_every, c.eval_every, c.ckpt_every, c.keep_checkpoints = 100, 10_000, 5_000, 3
    return c


# config.task beyond name and subtask: what defines a task (windows, answer selection, tag scheme), each
# default written here once; the values are Google's run_squad / run_classifier and the CoNLL files'.
TASK_SETTINGS = {
    "squad": dict(
        doc_stride=128,  # tokens between the starts of a context's windows (Google's meaning)
        max_query_length=64,
        out_of_span="cls",  # training windows without the answer: label [CLS] ('cls') or leave out ('drop')
        n_best_size=20,
        max_answer_length=30,
        null_score_diff_threshold=0.0,  # v2.0: answer '' when null score − best span score > this
        use_best_threshold=False,  # v2.0: apply the best-F1 threshold found on the evaluated split
    ),
    "ner": dict(
        tag_scheme="bio",  # input tags: 'bio' (IOB2) | 'iob1' (the original eng.* files)
        document_context=False,  # fill each window with neighbouring sentences of the document
    ),
}


def finetuning_config(task: str) -> ml_collections.ConfigDict:
    """Defaults of every fine-tuning task: the paper's recipe (batch 32, 3 epochs, lr 5e-5 from
    {5e-5, 3e-5, 2e-5}, 10% linear warmup then linear decay, weight decay 0.01, dropout 0.1),
    with bias-corrected AdamW (as HF; ``optim.name='bert_adam'`` gives Google's exact optimizer) and
    Google's decay counted from step 0 (``optim.schedule='linear_after_warmup'`` gives HF Trainer's).
    With init_from, the encoder's size comes from there and model.preset is ignored; other fields override.

    ``config.task`` holds what defines the task (its name, subtask and a config file's task settings:
    SQuAD's windows and answer selection, NER's tag scheme); ``config.data`` where and how its data is read.
    """
    c = run_config()
    c.task = ml_collections.ConfigDict({
        "name": task, "subtask": "",
        "predict_test": True,  # write test-split predictions when the test file exists
        **TASK_SETTINGS.get(task, {}),
    })
    c.data = ml_collections.ConfigDict(dict(
        source="files",  # 'files' (the released layout in data.dir) | 'tfds' | 'hf' (Hugging Face datasets; GLUE)
        dir="",  # e.g. glue_data/RTE, the SWAG folder, the CoNLL-2003 folder
        dataset="",  # source 'hf': a hub name (nyu-mll/glue) or a local directory in the hub's parquet layout
        dataset_config="",  # source 'hf': the hub config, e.g. rte (default: the subtask's)
        tfds_data_dir="",
        vocab="",  # default: the vocab of init_from
        lowercase=ml_collections.FieldReference(None, field_type=bool),  # None: from tokenizer_config.json, else True
        max_seq_length=128,
        # Each batch is padded to a multiple of pad_to_multiple_of ≥ its longest row (0: to max_seq_length),
        # one of at most max_widths per split (each a compiled shape), planned to pad least (data/widths.py;
        # 0: every multiple).
        pad_to_multiple_of=widths.DEFAULT_MULTIPLE,
        max_widths=widths.DEFAULT_LIMIT,
        # GLUE training: >1 packs each step's batch_size examples up to this many per max_seq_length row
        # (segment ids, restarted positions, pooled at each [CLS]); rows per step are rounded up to
        # packed_row_multiple (a multiple of the data-parallel size). Evaluation stays one example per row.
        pack_per_row=1,
        packed_row_multiple=8,
        train_limit=0,  # >0: a random subset of this many training examples (CPU experiments)
        skip_malformed_rows=False,  # TSV rows with a wrong column count: error (False) or skip (True)
    ))
    c.optim.warmup_fraction = 0.1
    c.num_train_epochs = 3.0
    c.select_best = True
    return c


def runlocal(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """A CPU smoke run of a fine-tuning config: a tiny model unless init_from is given, a few steps."""
    c.model.preset = "tiny"
    c.num_train_epochs, c.total_steps = 0.0, 6
    c.batch_size, c.eval_batch_size, c.eval_batches = 8, 8, 2
    c.log_every, c.eval_every, c.ckpt_every = 2, 3, 3
    c.data.max_seq_length = 64
    return c


def cpu_pretraining_scale(c: ml_collections.ConfigDict, runlocal: bool,
                          total_steps: int = 1000) -> ml_collections.ConfigDict:
    """The quickstart's scale (configs/pretrain_tiny.py), for any family's recipe: L2/H128 on the offline
    docstring corpus, ``total_steps`` steps of 32 × 128 tokens without dropout, AdamW 2e-3 (1,000 steps: the
    family recipes' results in experiments/ were measured there; the quickstart runs 1,300); ``runlocal`` a
    20-step smoke run with dropout 0.1 (the tests check that dropout's keys resume and shard exactly)."""
    c.model.preset = "tiny"
    c.model.hidden_dropout_prob = 0.0
    c.model.attention_probs_dropout_prob = 0.0
    c.data.source = "python_docstrings"
    c.data.vocab_size = 8000
    c.data.max_seq_length = 128
    c.data.dupe_factor = 5
    c.data.eval_document_stride = 10
    # AdamW (bias-corrected): Google's bert_adam has no bias correction, so its first ~1k steps move
    # ~3x further than its lr says; at this size and lr it sits on the unigram plateau much longer.
    c.optim.name = "adamw"
    c.optim.learning_rate = 2e-3
    c.optim.warmup_steps = 100
    c.batch_size = 32
    c.eval_batch_size = 32
    c.eval_batches = 0  # the whole held-out split
    c.total_steps = total_steps
    c.log_every = 50
    c.eval_every = 500
    c.ckpt_every = 250
    if runlocal:
        c.model.hidden_dropout_prob = c.model.attention_probs_dropout_prob = 0.1
        c.total_steps, c.optim.warmup_steps, c.batch_size, c.eval_batch_size = 20, 5, 16, 16
        c.log_every, c.eval_every, c.ckpt_every, c.eval_batches = 5, 10, 10, 2
    return c


def paper_pretraining_config(preset: str, arg: str | None) -> ml_collections.ConfigDict:
    """The paper's pretraining recipe for a model size (configs/pretrain_base.py, pretrain_large.py).

    Args ``phase=1|2`` (seq 128 with 20 predictions for 900k steps | seq 512 with 80 for 100k) and
    ``runlocal`` (a 4-step CPU smoke run on the offline docstring corpus).
    """
    args = parse_arg(arg, runlocal=False, phase=1)
    c = pretraining_config()
    c.model.preset = preset
    c.data.source = "sentences"
    c.init_head = True  # phase 2 / continued pretraining keep the MLM and NSP heads
    if args.phase == 2:
        c.data.max_seq_length, c.data.max_predictions_per_seq = 512, 80
        c.total_steps, c.optim.warmup_steps = 100_000, 1_000
    else:
        c.total_steps = 900_000
    if args.runlocal:
        c.data.source, c.data.vocab_size = "python_docstrings", 4000
        c.total_steps, c.optim.warmup_steps, c.batch_size, c.eval_batch_size = 4, 2, 8, 8
        c.log_every, c.eval_every, c.ckpt_every, c.eval_batches = 2, 4, 4, 1
        c.data.max_seq_length = min(c.data.max_seq_length, 128)
    return c
