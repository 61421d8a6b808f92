"""Both trainers on one data stream, with the random streams taken out: bert_jax's training batches (the
same rows in the same order and padding) fed to HF transformers too, dropout off on both sides, HF's
classifier started from bert_jax's initial one, HF's schedule (warmup then linear decay to 0 over the
remaining steps) on both. What is left between the two is floating point, so their per-step losses and
dev scores should agree; the main table's runs differ, beyond that, only in batch order, dropout masks
and the head's initialisation.

    python experiments/2026-11-22-finetune-vs-hf/same_batches.py --task=mrpc --seed=0 --out=runs/ft_same_batches

Writes <out>/<task>_seed<seed>.json: per-step training losses and per-epoch dev scores of both sides.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run as main_table  # noqa: E402  (the data, recipe and metrics of the main table)


def our_config(task: str, seed: int):
    sys.path.insert(0, os.path.join(main_table.ROOT, "configs"))
    import glue

    config_arg, data_dir, limit = main_table.TASKS[task]
    c = glue.get_config(config_arg.split(":")[1])
    c.init_from = main_table.minilm_dir()
    c.data.dir = os.path.join(main_table.SHARED, data_dir)
    c.data.train_limit = limit
    c.seed, c.optim.learning_rate, c.batch_size = seed, main_table.LR, main_table.BATCH
    c.num_train_epochs, c.data.max_seq_length = main_table.EPOCHS, main_table.MAX_LEN
    c.optim.schedule = "linear_after_warmup"  # HF's get_linear_schedule_with_warmup
    c.model.attention_probs_dropout_prob = 0.0
    c.model.hidden_dropout_prob = 0.0
    c.log_every = 1
    return c


def run_ours(config, workdir: str) -> dict:
    from bert_jax import train

    start = time.time()
    train.run(config, workdir)
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        metrics = [json.loads(line) for line in f]
    return {"seconds": time.time() - start,
            "losses": [m["loss"] for m in metrics if m["split"] == "train"],
            "epochs": [{k: v for k, v in m.items() if k not in ("split", "time")} for m in metrics
                       if m["split"] == "eval"]}


def our_stream_and_head(config, workdir: str):
    """bert_jax's training batches (a random-access dataset: step → batch) and its initial classifier."""
    import jax

    from bert_jax import run_plan, step, tasks, train
    from bert_jax.data.loaders import host_batches
    from bert_jax.models.heads import BertWithHead
    from bert_jax.optim import create_optimizer, warmup_then_decay

    task = tasks.get(config.task.name)(config, workdir)
    data = host_batches(task, config, "train")
    total, warmup, per_epoch = run_plan.schedule_steps(config, task)
    model = BertWithHead(task.model_config, task.head())
    tx = create_optimizer("adamw", warmup_then_decay(1.0, warmup, total, config.optim.schedule))
    example = {k: np.asarray(v)[:1] for k, v in data[0].items()}
    jax.config.update("jax_default_prng_impl", config.prng_impl)
    state = step.create_state(jax.random.PRNGKey(config.seed), model=model, tx=tx, example=example, task=task)
    head = jax.tree_util.tree_map(np.asarray, train.strip_boxes(state.params)["head"]["classifier"])
    return data, total, warmup, per_epoch, head


def run_hf(task: str, data, total: int, warmup: int, per_epoch: int, head: dict) -> dict:
    import torch
    import transformers

    torch.set_num_threads(2)
    tokenizer = transformers.BertTokenizerFast(tokenizer_file=os.path.join(main_table.minilm_dir(), "tokenizer.json"))
    texts, labels, sub = main_table._glue_data(task, "dev", 0)
    model = transformers.BertForSequenceClassification.from_pretrained(
        main_table.minilm_dir(), num_labels=len(sub.labels), hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    with torch.no_grad():
        model.classifier.weight.copy_(torch.from_numpy(head["kernel"].T.copy()))
        model.classifier.bias.copy_(torch.from_numpy(head["bias"].copy()))
    opt, schedule = main_table._optimizer(torch, model, total)  # the main table's AdamW groups and schedule
    assert warmup == round(0.1 * total), (warmup, total)  # the warmup both sides use

    def dev_scores():
        model.eval()
        predictions = []
        with torch.no_grad():
            for i in range(0, len(texts), 64):
                batch = texts[i:i + 64]
                enc = tokenizer([t[0] for t in batch], [t[1] for t in batch], truncation=True,
                                max_length=main_table.MAX_LEN, padding=True, return_tensors="pt")
                predictions.append(model(**enc).logits.argmax(-1))
        model.train()
        return main_table._glue_scores(task, torch.cat(predictions).numpy(), labels)

    start, losses, epochs = time.time(), [], []
    model.train()
    for i in range(total):
        batch = data[i]
        inputs = {k: torch.from_numpy(np.asarray(batch[k]).astype(np.int64))
                  for k in ("input_ids", "token_type_ids", "attention_mask", "labels")}
        loss = model(**inputs).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        schedule.step()
        opt.zero_grad()
        losses.append(float(loss.detach()))
        if (i + 1) % per_epoch == 0 or i + 1 == total:
            epochs.append({"step": i + 1, **dev_scores()})
    return {"seconds": time.time() - start, "losses": losses, "epochs": epochs}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--task", default="mrpc", choices=[t for t in main_table.TASKS if t != "conll"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=os.path.join(main_table.ROOT, "runs", "ft_same_batches"))
    args = parser.parse_args()
    config = our_config(args.task, args.seed)
    workdir = os.path.join(args.out, f"ours_{args.task}_seed{args.seed}")
    ours = run_ours(config, workdir)
    data, total, warmup, per_epoch, head = our_stream_and_head(config, workdir)
    hf = run_hf(args.task, data, total, warmup, per_epoch, head)
    ours_losses, hf_losses = np.array(ours["losses"]), np.array(hf["losses"])
    summary = {"task": args.task, "seed": args.seed, "steps": total, "ours": ours, "hf": hf,
               "first_step_loss": [float(ours_losses[0]), float(hf_losses[0])],
               "max_abs_loss_difference": float(np.max(np.abs(ours_losses - hf_losses))),
               "mean_abs_loss_difference": float(np.mean(np.abs(ours_losses - hf_losses)))}
    path = os.path.join(args.out, f"{args.task}_seed{args.seed}.json")
    with open(path + ".tmp", "w") as f:
        json.dump(summary, f, indent=1)
    os.replace(path + ".tmp", path)
    print(json.dumps({k: v for k, v in summary.items() if k not in ("ours", "hf")}))
    for side in ("ours", "hf"):
        print(side, [{k: round(v, 4) for k, v in e.items() if k in ("step", "f1", "accuracy", "score")}
                     for e in summary[side]["epochs"]])


if __name__ == "__main__":
    main()
