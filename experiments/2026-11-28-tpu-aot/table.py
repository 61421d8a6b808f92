"""results.json → the markdown table in README.md and docs/performance.md.

    python experiments/2026-11-28-tpu-aot/table.py
"""

import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def main() -> None:
    rows = json.load(open(os.path.join(HERE, "results.json")))
    order = {"v5e:2x2": 0, "v4:2x2x1": 1, "v5p:2x2x1": 2}
    rows.sort(key=lambda r: (r["size"] != "base", r["phase"], order.get(r["topology"], 9)))
    print("| model | phase (seq) | slice | devices | batch / device | peak / HBM per device (GiB) | fits | "
          "batch / device that fits (est.) | compiled / analytic FLOPs | step at 45% MFU |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        devices = f"{r['devices']}" + (f" ({r['chips']} chips)" if r["devices"] != r["chips"] else "")
        print(f"| BERT-{r['size']} | {r['phase']} ({r['seq']}) | {r['topology']} | {devices} | "
              f"{r['batch_per_device']} | {r['peak_gib']:.2f} / {r['hbm_gib']:.0f} | {'yes' if r['fits'] else 'NO'} | "
              f"{r['fitting_batch_per_device']} | {r['compiled_flops'] / r['analytic_flops']:.3f} | "
              f"{r['predicted_ms_at_45']:.1f} ms |")


if __name__ == "__main__":
    main()
