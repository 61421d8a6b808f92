"""Tables (results.md) and plots (mlm_curves.png) of run.py's runs: held-out MLM accuracy (with the
most-frequent-token baseline of each run's own vocab), the sentence objective where there is one, SST-2 dev
accuracy after fine-tuning, minutes.

    python experiments/2026-11-28-family-recipes/report.py --out=runs/families
"""

from __future__ import annotations

import argparse
import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def curve(workdir: str, key: str = "mlm_accuracy") -> tuple[list[int], list[float]]:
    rows = [json.loads(line) for line in open(os.path.join(workdir, "metrics.jsonl"))]
    rows = [r for r in rows if r.get("split") == "train" and key in r]
    return [r["step"] for r in rows], [r[key] for r in rows]


def row(name: str, run: dict) -> str:
    pre, sst2 = run.get("pretrain"), run["sst2"]
    if pre is None:
        return f"| {name} | – | – | – | {100 * sst2['accuracy']:.1f} | – |"
    sentence = next((f"{k.split('_')[0].upper()} {100 * v:.1f}" for k, v in pre.items()
                     if k in ("nsp_accuracy", "sop_accuracy")), "–")
    return (f"| {name} | {100 * pre['mlm_accuracy']:.1f} | {100 * pre['mlm_most_frequent_token_accuracy']:.1f} | "
            f"{sentence} | {100 * sst2['accuracy']:.1f} | {pre['seconds'] / 60:.1f} |")


HEADER = ("| run | held-out MLM acc. % | most-frequent-token baseline % | sentence task acc. % | SST-2 dev acc. % | "
          "pretraining minutes |\n|---|---|---|---|---|---|")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="runs/families")
    args = parser.parse_args()
    results = json.load(open(os.path.join(args.out, "results.json")))
    here = os.path.dirname(os.path.abspath(__file__))
    lines = []
    distillation_folder = os.path.join(os.path.dirname(here), "2026-11-28-distillation")
    for runs, folder, title in ((results.get("recipes"), here, "Recipes at tiny scale"),
                                (results.get("distillation"), distillation_folder, "Distillation at tiny scale")):
        if not runs:
            continue
        table = "\n".join([f"## {title}", "", HEADER, *(row(name, run) for name, run in runs.items())])
        lines.append(table)
        with open(os.path.join(folder, "results.md"), "w") as f:
            f.write(table + "\n")
        json.dump(runs, open(os.path.join(folder, "results.json"), "w"), indent=1)
        fig, ax = plt.subplots(figsize=(6, 4))
        for name, run in runs.items():
            if run.get("pretrain"):
                steps, acc = curve(os.path.join(args.out, name))
                ax.plot(steps, acc, label=name)
        ax.set_xlabel("step")
        ax.set_ylabel("train MLM accuracy (masked positions)")
        ax.set_title(title)
        ax.legend()
        fig.tight_layout()
        fig.savefig(os.path.join(folder, "mlm_curves.png"), dpi=100)
    print("\n\n".join(lines))


if __name__ == "__main__":
    main()
