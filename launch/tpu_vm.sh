#!/usr/bin/env bash
# TPU VM lifecycle for bert_jax: create, install on every worker, run the same command on every worker,
# stream logs, stop, delete. Every gcloud/ssh command is printed before it runs; --dry-run only prints.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: launch/tpu_vm.sh [--dry-run] COMMAND [options] [-- bert_jax.main arguments]

Commands:
  create    create the TPU VM (with --queued: a queued resource, which waits for capacity)
  install   copy this checkout to every worker, pip install it with jax[tpu]; with --bucket, mount the
            bucket on every worker (gcsfuse) at /mnt/gcs as the shared run directory
  run       start `python3 -m bert_jax.main ARGS` on every worker in the background (log: ~/bert_jax.log),
            then stream worker 0's log; the workdir must be shared by all workers (e.g. /mnt/gcs/...)
  logs      stream a worker's log (--worker, default 0)
  stop      stop the run on every worker (SIGTERM: each saves a checkpoint and exits)
  delete    delete the TPU VM (or the queued resource)
  status    describe the TPU VM

Options (environment variable in brackets):
  --name NAME         TPU name [TPU_NAME]                      (required)
  --zone ZONE         e.g. us-central2-b [TPU_ZONE]            (required)
  --project PROJECT   GCP project [TPU_PROJECT] (default: gcloud's configured project)
  --type TYPE         accelerator type, e.g. v4-8, v4-32, v5litepod-16 [TPU_TYPE] (create)
  --version VERSION   TPU software version [TPU_VERSION] (default: tpu-ubuntu2204-base)
  --spot              spot (preemptible) capacity; runs resume from their newest checkpoint
  --queued            use a queued resource (create/delete/status)
  --bucket gs://B     install: mount bucket B at /mnt/gcs on every worker
  --worker N          logs: which worker (default 0)
  --dry-run           print the commands, run nothing
  -h, --help          this text

Example (BERT-base phase 1 on a v4-32, 4 hosts):
  launch/tpu_vm.sh create  --name bert --zone us-central2-b --type v4-32 --spot
  launch/tpu_vm.sh install --name bert --zone us-central2-b --bucket gs://my-bucket
  launch/tpu_vm.sh run     --name bert --zone us-central2-b -- \
      --config=configs/pretrain_base.py --workdir=/mnt/gcs/bert_base_phase1 --config.data.source=tfds
USAGE
}

DRY_RUN=0
NAME=${TPU_NAME:-} ZONE=${TPU_ZONE:-} PROJECT=${TPU_PROJECT:-} TYPE=${TPU_TYPE:-}
VERSION=${TPU_VERSION:-tpu-ubuntu2204-base} SPOT=0 QUEUED=0 BUCKET="" WORKER=0 COMMAND=""
MAIN_ARGS=()

die() { echo "tpu_vm.sh: $*" >&2; exit 2; }

# Prints a command (shell-quoted, so it can be pasted) and runs it unless --dry-run.
run() {
  printf '+'; printf ' %q' "$@"; printf '\n'
  if [[ $DRY_RUN == 0 ]]; then "$@"; fi
}

while [[ $# -gt 0 ]]; do
  case $1 in
    -h|--help) usage; exit 0 ;;
    --dry-run) DRY_RUN=1 ;;
    --name) NAME=${2:?--name needs a value}; shift ;;
    --zone) ZONE=${2:?--zone needs a value}; shift ;;
    --project) PROJECT=${2:?--project needs a value}; shift ;;
    --type) TYPE=${2:?--type needs a value}; shift ;;
    --version) VERSION=${2:?--version needs a value}; shift ;;
    --spot) SPOT=1 ;;
    --queued) QUEUED=1 ;;
    --bucket) BUCKET=${2:?--bucket needs a value}; shift ;;
    --worker) WORKER=${2:?--worker needs a value}; shift ;;
    --) shift; MAIN_ARGS=("$@"); break ;;
    create|install|run|logs|stop|delete|status)
      [[ -z $COMMAND ]] || die "two commands given: $COMMAND and $1"
      COMMAND=$1 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
  shift
done

[[ -n $COMMAND ]] || { usage >&2; exit 2; }
[[ -n $NAME ]] || die "--name (or TPU_NAME) is required"
[[ -n $ZONE ]] || die "--zone (or TPU_ZONE) is required"
GCLOUD_SCOPE=(--zone="$ZONE")
if [[ -n $PROJECT ]]; then GCLOUD_SCOPE+=(--project="$PROJECT"); fi
TPU=(gcloud compute tpus tpu-vm)
QR=(gcloud compute tpus queued-resources)

# The same command on every worker: that is how a multi-host TPU job starts (one process per host;
# jax.distributed.initialize finds the others by itself on a TPU VM).
on_all_workers() { run "${TPU[@]}" ssh "$NAME" "${GCLOUD_SCOPE[@]}" --worker=all --command="$1"; }

case $COMMAND in
  create)
    [[ -n $TYPE ]] || die "create needs --type (e.g. v4-8, v4-32, v5litepod-16)"
    capacity=()
    if [[ $SPOT == 1 ]]; then capacity=(--spot); fi
    if [[ $QUEUED == 1 ]]; then
      run "${QR[@]}" create "$NAME" "${GCLOUD_SCOPE[@]}" --node-id="$NAME" --accelerator-type="$TYPE" \
        --runtime-version="$VERSION" "${capacity[@]}"
    else
      run "${TPU[@]}" create "$NAME" "${GCLOUD_SCOPE[@]}" --accelerator-type="$TYPE" --version="$VERSION" \
        "${capacity[@]}"
    fi
    ;;
  install)
    root=$(cd "$(dirname "$0")/.." && pwd)
    archive=${TMPDIR:-/tmp}/bert_jax_src.tar.gz
    # The checkout as it is (tracked and untracked files, not .gitignore'd ones): what you tested runs.
    run tar -czf "$archive" -C "$root" --exclude=.git --exclude=.venv --exclude=runs --exclude='*.egg-info' .
    run "${TPU[@]}" scp "$archive" "$NAME:bert_jax_src.tar.gz" "${GCLOUD_SCOPE[@]}" --worker=all
    on_all_workers "rm -rf ~/bert_jax && mkdir -p ~/bert_jax && tar -xzf ~/bert_jax_src.tar.gz -C ~/bert_jax && \
python3 -m pip install -q -U pip && python3 -m pip install -q 'jax[tpu]' -e ~/bert_jax"
    if [[ -n $BUCKET ]]; then
      [[ $BUCKET == gs://* ]] || die "--bucket must be gs://NAME, got '$BUCKET'"
      # --rename-dir-limit: Orbax commits a checkpoint by renaming its temporary directory.
      on_all_workers "(command -v gcsfuse || (curl -fsSL https://packages.cloud.google.com/apt/doc/apt-key.gpg | \
sudo gpg --dearmor -o /usr/share/keyrings/cloud.google.gpg && echo 'deb [signed-by=/usr/share/keyrings/cloud.google.gpg] \
https://packages.cloud.google.com/apt gcsfuse-'\$(lsb_release -c -s)' main' | sudo tee /etc/apt/sources.list.d/gcsfuse.list \
&& sudo apt-get update -q && sudo apt-get install -y -q gcsfuse)) && sudo mkdir -p /mnt/gcs && sudo chown \$USER /mnt/gcs && \
(mountpoint -q /mnt/gcs || gcsfuse --implicit-dirs --rename-dir-limit=100000 ${BUCKET#gs://} /mnt/gcs)"
    fi
    ;;
  run)
    [[ ${#MAIN_ARGS[@]} -gt 0 ]] || die "run needs bert_jax.main arguments after --, e.g. -- --config=configs/pretrain_base.py --workdir=/mnt/gcs/run1"
    workdir=""
    for arg in "${MAIN_ARGS[@]}"; do
      if [[ $arg == --workdir=* ]]; then workdir=${arg#--workdir=}; fi
    done
    [[ -n $workdir ]] || die "run needs --workdir=... among the bert_jax.main arguments"
    [[ $workdir != gs://* ]] || die "--workdir=$workdir: gs:// paths are not read directly yet; mount the bucket (install --bucket) and use /mnt/gcs/..."
    [[ $workdir == /* ]] || die "--workdir=$workdir must be an absolute path that every worker shares (e.g. /mnt/gcs/...)"
    printf -v quoted ' %q' "${MAIN_ARGS[@]}"
    on_all_workers "cd ~/bert_jax && nohup python3 -m bert_jax.main$quoted > ~/bert_jax.log 2>&1 &"
    run "${TPU[@]}" ssh "$NAME" "${GCLOUD_SCOPE[@]}" --worker=0 --command="tail -n +1 -F ~/bert_jax.log"
    ;;
  logs)
    run "${TPU[@]}" ssh "$NAME" "${GCLOUD_SCOPE[@]}" --worker="$WORKER" --command="tail -n +1 -F ~/bert_jax.log"
    ;;
  stop)
    on_all_workers "pkill -TERM -f '[b]ert_jax[.]main' || true"
    ;;
  delete)
    if [[ $QUEUED == 1 ]]; then
      run "${QR[@]}" delete "$NAME" "${GCLOUD_SCOPE[@]}" --force --quiet
    else
      run "${TPU[@]}" delete "$NAME" "${GCLOUD_SCOPE[@]}" --quiet
    fi
    ;;
  status)
    if [[ $QUEUED == 1 ]]; then
      run "${QR[@]}" describe "$NAME" "${GCLOUD_SCOPE[@]}"
    else
      run "${TPU[@]}" describe "$NAME" "${GCLOUD_SCOPE[@]}"
    fi
    ;;
esac
