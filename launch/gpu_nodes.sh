#!/usr/bin/env bash
# Multi-node (or multi-process single-node) GPU runs of bert_jax: one process per node or per GPU,
# started over ssh (or here, with --local), or an sbatch script for Slurm. Every command is printed
# before it runs; --dry-run only prints.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: launch/gpu_nodes.sh [options] -- <bert_jax.main arguments>

Starts `python -m bert_jax.main ARGS` once per node (default) or once per GPU (--per-gpu) with
BERT_JAX_COORDINATOR / BERT_JAX_NUM_PROCESSES / BERT_JAX_PROCESS_ID set, so that the processes form one
JAX job (jax.distributed.initialize). The workdir must be a path every node shares (NFS, gcsfuse).
The first host is the coordinator. Process 0's output streams here; process i logs to <workdir>.pI.log.

Options:
  --hosts H1,H2,...     nodes to run on over ssh (the first is the coordinator)
  --local N             instead of ssh: N processes on this machine (testing, or one process per GPU)
  --per-gpu             one process per GPU (CUDA_VISIBLE_DEVICES=g) instead of one per node
  --gpus-per-node G     GPUs per node, for --per-gpu (default 8)
  --port P              coordinator port (default 12355)
  --remote-dir DIR      where the checkout is on every node (default: this checkout's path)
  --python PY           python on the nodes (default: python3)
  --slurm               print an sbatch script (srun starts one task per GPU; JAX reads Slurm's
                        environment) instead of starting anything; with --nodes
  --nodes N             nodes for --slurm (default 1)
  --dry-run             print the commands, run nothing
  -h, --help            this text

Examples:
  launch/gpu_nodes.sh --hosts=gpu-a,gpu-b -- --config=configs/pretrain_base.py --workdir=/nfs/runs/base
  launch/gpu_nodes.sh --slurm --nodes=4 --gpus-per-node=8 -- --config=configs/pretrain_large.py \
      --workdir=/nfs/runs/large > large.sbatch && sbatch large.sbatch
USAGE
}

HOSTS="" LOCAL=0 PER_GPU=0 GPUS=8 PORT=12355 REMOTE_DIR="" PYTHON=python3 SLURM=0 NODES=1 DRY_RUN=0
MAIN_ARGS=()

die() { echo "gpu_nodes.sh: $*" >&2; exit 2; }

value() { [[ -n ${2:-} ]] || die "$1 needs a value"; echo "$2"; }

while [[ $# -gt 0 ]]; do
  case $1 in
    -h|--help) usage; exit 0 ;;
    --hosts=*) HOSTS=$(value --hosts "${1#*=}") ;;
    --local=*) LOCAL=$(value --local "${1#*=}") ;;
    --per-gpu) PER_GPU=1 ;;
    --gpus-per-node=*) GPUS=$(value --gpus-per-node "${1#*=}") ;;
    --port=*) PORT=$(value --port "${1#*=}") ;;
    --remote-dir=*) REMOTE_DIR=$(value --remote-dir "${1#*=}") ;;
    --python=*) PYTHON=$(value --python "${1#*=}") ;;
    --slurm) SLURM=1 ;;
    --nodes=*) NODES=$(value --nodes "${1#*=}") ;;
    --dry-run) DRY_RUN=1 ;;
    --) shift; MAIN_ARGS=("$@"); break ;;
    *) die "unknown argument '$1' (see --help; options take --name=value)" ;;
  esac
  shift
done

for n in "$LOCAL" "$GPUS" "$PORT" "$NODES"; do
  [[ $n =~ ^[0-9]+$ ]] || die "expected a whole number, got '$n'"
done
[[ ${#MAIN_ARGS[@]} -gt 0 ]] || die "give the bert_jax.main arguments after --"
workdir=""
for arg in "${MAIN_ARGS[@]}"; do
  if [[ $arg == --workdir=* ]]; then workdir=${arg#--workdir=}; fi
done
[[ -n $workdir ]] || die "the bert_jax.main arguments need --workdir=..."
REMOTE_DIR=${REMOTE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
printf -v QUOTED_ARGS ' %q' "${MAIN_ARGS[@]}"

if [[ $SLURM == 1 ]]; then
  cat <<SBATCH
#!/bin/bash
#SBATCH --job-name=bert_jax
#SBATCH --nodes=$NODES
#SBATCH --ntasks-per-node=$GPUS
#SBATCH --gpus-per-node=$GPUS
#SBATCH --signal=TERM@120
# One task per GPU; jax.distributed.initialize() reads SLURM_* (bert_jax.distributed), and SIGTERM
# 120 s before the time limit makes every process save a checkpoint and exit.
cd $(printf '%q' "$REMOTE_DIR")
srun --kill-on-bad-exit=1 $PYTHON -m bert_jax.main$QUOTED_ARGS
SBATCH
  exit 0
fi

if [[ $LOCAL -gt 0 ]]; then
  [[ -z $HOSTS ]] || die "--hosts and --local exclude each other"
  hosts=()
  for ((i = 0; i < LOCAL; i++)); do hosts+=(localhost); done
  PER_GPU_HOST=1
else
  [[ -n $HOSTS ]] || die "give --hosts=H1,H2,... (or --local=N)"
  IFS=, read -r -a hosts <<< "$HOSTS"
  PER_GPU_HOST=$([[ $PER_GPU == 1 ]] && echo "$GPUS" || echo 1)
fi
coordinator="${hosts[0]}:$PORT"
num_processes=$(( ${#hosts[@]} * PER_GPU_HOST ))

if [[ $LOCAL -gt 0 ]]; then  # the per-process logs go beside the workdir
  echo "+ mkdir -p $(printf '%q' "$(dirname "$workdir")")"
  if [[ $DRY_RUN == 0 ]]; then mkdir -p "$(dirname "$workdir")"; fi
fi
pids=()
id=0
for host in "${hosts[@]}"; do
  for ((g = 0; g < PER_GPU_HOST; g++)); do
    env_vars="BERT_JAX_COORDINATOR=$coordinator BERT_JAX_NUM_PROCESSES=$num_processes BERT_JAX_PROCESS_ID=$id"
    if [[ $PER_GPU == 1 ]]; then env_vars+=" CUDA_VISIBLE_DEVICES=$(( LOCAL > 0 ? id : g ))"; fi
    command="cd $(printf '%q' "$REMOTE_DIR") && $env_vars $PYTHON -m bert_jax.main$QUOTED_ARGS"
    log=$([[ $id == 0 ]] && echo /dev/stdout || echo "$workdir.p$id.log")
    if [[ $LOCAL -gt 0 ]]; then
      echo "+ bash -c $(printf '%q' "$command") > $log"
      if [[ $DRY_RUN == 0 ]]; then bash -c "$command" > "$log" 2>&1 & pids+=($!); fi
    else
      echo "+ ssh $host $(printf '%q' "$command") > $log"
      # shellcheck disable=SC2029  # $command is built here on purpose: the node runs exactly what was printed
      if [[ $DRY_RUN == 0 ]]; then ssh "$host" "$command" > "$log" 2>&1 & pids+=($!); fi
    fi
    id=$(( id + 1 ))
  done
done

status=0
for pid in "${pids[@]}"; do
  wait "$pid" || status=$?
done
exit $status
