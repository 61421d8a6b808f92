#!/usr/bin/env bash
# Issue 17's GPU figures in one device call of at most 7 minutes: where the BERT-base pretraining step's
# time goes (bench profile, ours), then the benchmarks beside HF torch.compile in the same process:
# pretraining base seq 128 batch 256, inference batch 128 x seq 128, BERT-large seq 512 ~50% padding packed.
# Each step's log lands in OUTDIR/STEP.log; a step that would start after the deadline is skipped and named.
#
# Usage (device machine, repository root): bash experiments/2026-11-28-gpu-bench/run.sh OUTDIR [STEP ...]
# Steps: env profile base infer large (default: all, in that order of importance).
# The image lacks ml-collections, grain, array-record and portpicker: carry them as wheels in .whl
# (the device tool's README says how) and start the call with
#   python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
#     .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD || exit;
set -uo pipefail
out=${1:?usage: run.sh OUTDIR [STEP ...]}
shift
steps=${*:-env profile base infer large}
mkdir -p "$out"
deadline=$(( $(date +%s) + ${BUDGET_S:-400} ))
# JAX and PyTorch share the GPU in one process: JAX takes 45% up front, PyTorch allocates from the rest.
export XLA_PYTHON_CLIENT_MEM_FRACTION=0.45 PYTHONUNBUFFERED=1
fast=(--attention=cudnn --prng=unsafe_rbg)
bench() { timeout $(( deadline - $(date +%s) )) python3 -m bert_jax.bench "$@"; }
for step in $steps; do
  if (( $(date +%s) + 20 > deadline )); then echo "=== $step skipped: deadline"; continue; fi
  echo "=== $step $(date -u +%H:%M:%S)"
  case $step in
    env) { nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv
           python3 -c "import jax, torch, transformers, flax; print('jax', jax.__version__, jax.devices(), \
'torch', torch.__version__, 'transformers', transformers.__version__, 'flax', flax.__version__)"
         } 2>&1 | tee "$out/env.log" ;;
    profile) bench profile pretrain --size=base --seq=128 --batch=256 "${fast[@]}" --no-peer --profile-steps=5 \
               --top=25 --out="$out/profile" 2>&1 | tee "$out/profile.log" ;;
    base) bench pretrain --size=base --seq=128 --batch=256 "${fast[@]}" --peer-modes=compile --repeats=10 \
            2>&1 | tee "$out/base.log" ;;
    infer) bench infer --size=base --seq=128 --batch=128 --attention=cudnn --peer-modes=compile --repeats=20 \
             2>&1 | tee "$out/infer.log" ;;
    large) bench pretrain --size=large --seq=512 --batch=32 --padding=0.5 --only-packed "${fast[@]}" \
             --peer-modes=compile --repeats=10 2>&1 | tee "$out/large.log" ;;
    *) echo "unknown step $step" ;;
  esac
done
