#!/usr/bin/env bash
# Train and evaluate rows of the PTB table side by side on one GPU, inside
# a time limit, and pack what the results table and the study read.
#
# The PTB models (batch 32, LSTM 256) leave a GPU mostly idle: on an H100 a
# VAE step takes 3 ms, launch-bound (BUILD_NOTES, "GPU side by side"). So
# each row runs in its own process (`experiments.train_rows --rows=ROW`)
# beside the others, each with an equal share of the GPU's memory. After
# training and evaluation each row decodes the reconstructions and draws the
# latent map of the study (when DATA_DIR holds ptb.test.txt and YELP_TEST is
# set). From the repository root:
#
#   DATA_DIR=../shared/data/ptb RUNS=/tmp/runs PACK=/tmp/pack LIMIT=540 \
#       bash experiments/device_rows.sh ptb_vae_gumbel ptb_vae_gumbel_st
#
# Environment: DATA_DIR (PTB files), RUNS (workdirs; a row already
# evaluated there is skipped, a half-trained one resumes), PACK (where the
# packed results go), LIMIT (seconds for training and evaluation, default
# 540), MAX_EPOCHS (default 50, as the CPU queue), CONFIG_ARG (e.g. smoke),
# YELP_TEST (Yelp sentences for the latent map), XLA_CACHE (persistent
# compilation cache, default $RUNS/xla_cache), PY (default python3),
# DEADLINE (seconds from the start by which the reconstructions and latent
# maps must be done too, default LIMIT + 120, so that packing always
# happens inside the device call), MPS=1 (start NVIDIA's multi-process
# service, if the machine has it and a test program runs under it, so the
# rows' small kernels run concurrently rather than time-sliced).
#
# Called again on the same (warm) machine with the same RUNS, it resumes:
# evaluated rows are skipped, half-trained ones go on from their latest
# checkpoint, finished analyses are not redone. So rows longer than one
# call can be trained over consecutive calls.
#
# PACK gets rows.tgz: every workdir without its checkpoints, plus each row's
# log, samples and latent map. Checkpoints (31 MB a VAE) stay behind on the
# machine: a row not finished when the machine goes back is lost, so size
# the rows to the calls. Results: `tar xzf rows.tgz -C runs` here, then
# `python -m experiments.results_table --runs_dir=runs`.
set -u
DATA_DIR=${DATA_DIR:-../shared/data/ptb}
RUNS=${RUNS:-/tmp/runs}
PACK=${PACK:-/tmp/pack}
LIMIT=${LIMIT:-540}
MAX_EPOCHS=${MAX_EPOCHS:-50}
XLA_CACHE=${XLA_CACHE:-$RUNS/xla_cache}
PY=${PY:-python3}
DEADLINE=${DEADLINE:-$((LIMIT + 120))}
if [ $# -eq 0 ]; then
  echo "usage: $0 ROW [ROW ...]" >&2
  exit 2
fi
mkdir -p "$RUNS" "$PACK"
if [ -n "${MPS:-}" ] && command -v nvidia-cuda-mps-control > /dev/null; then
  export CUDA_MPS_PIPE_DIRECTORY=/tmp/mps-pipe CUDA_MPS_LOG_DIRECTORY=/tmp/mps-log
  mkdir -p "$CUDA_MPS_PIPE_DIRECTORY" "$CUDA_MPS_LOG_DIRECTORY"
  nvidia-cuda-mps-control -d 2> /dev/null  # fails if already running: fine
  if ! timeout 120 "$PY" -c 'import jax; print("MPS on:", jax.numpy.ones(3).sum())'; then
    echo "MPS does not work here; going on without it"
    echo quit | nvidia-cuda-mps-control
    unset CUDA_MPS_PIPE_DIRECTORY CUDA_MPS_LOG_DIRECTORY
  fi
fi
export PYTHONUNBUFFERED=1
export XLA_PYTHON_CLIENT_MEM_FRACTION=${XLA_PYTHON_CLIENT_MEM_FRACTION:-$(
    "$PY" -c "print(round(0.9 / $#, 3))")}
SENTENCES="$(sed -n '3p;10p;25p;40p;100p' "$DATA_DIR/ptb.test.txt" 2>/dev/null \
    | sed 's/^ *//;s/ *$//' | paste -sd'|')"

left() { echo $((DEADLINE - SECONDS > 1 ? DEADLINE - SECONDS : 1)); }

analyse() {  # OUT_FILE CMD...: run CMD inside the deadline, keep its output
  local out=$1          # only when it succeeded, so a cut one is redone
  shift
  [ -s "$out" ] && return
  if timeout -s TERM "$(left)" "$@" > "$out.part" 2>&1; then
    mv "$out.part" "$out"
  else
    echo "=== $(basename "$out") not finished (exit $?)"
  fi
}

one_row() {  # train, evaluate and analyse one row; log in $RUNS/ROW.log
  local row=$1 start=$SECONDS
  timeout -s TERM "$LIMIT" "$PY" -m experiments.train_rows \
      --data_dir="$DATA_DIR" --runs_dir="$RUNS" --rows="$row" \
      --max_epochs="$MAX_EPOCHS" ${CONFIG_ARG:+--config_arg=$CONFIG_ARG} \
      --extra_flags=--compilation_cache_dir="$XLA_CACHE"
  local rc=$?
  echo "=== $row: train_rows exit $rc after $((SECONDS - start)) s"
  [ -f "$RUNS/$row/eval_test.json" ] || return
  if [ -n "$SENTENCES" ] && grep -q '"vae"' "$RUNS/$row/config.json"; then
    analyse "$RUNS/$row/reconstructions.txt" "$PY" -m experiments.generate \
        --workdir="$RUNS/$row" --data_dir="$DATA_DIR" --ban_unk \
        --sentences="$SENTENCES"
    if [ -n "${YELP_TEST:-}" ]; then
      analyse "$RUNS/$row/latent_map.txt" "$PY" -m experiments.latent_map \
          --workdir="$RUNS/$row" --data_dir="$DATA_DIR" \
          --corpus=ptb="$DATA_DIR/ptb.test.txt" --corpus=yelp="$YELP_TEST"
    fi
  fi
  echo "=== $row: done after $((SECONDS - start)) s"
}

for row in "$@"; do
  one_row "$row" >> "$RUNS/$row.log" 2>&1 &
done
wait
for row in "$@"; do
  tail -n 3 "$RUNS/$row.log"
done
"$PY" -m experiments.train_rows --runs_dir="$RUNS" --rows="$(IFS=,; echo "$*")" \
    --status
tar czf "$PACK/rows.tgz" -C "$RUNS" --exclude=checkpoints --exclude=xla_cache \
    --exclude='*.part' .
ls -la "$PACK"
