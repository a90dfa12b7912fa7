#!/usr/bin/env bash
# Issue 6 on a GPU: JAX (scan and cuDNN LSTM) against PyTorch with cuDNN, on
# the same machine, PTB, batch 32 (the figures in BUILD_NOTES, "GPU side by
# side"). Needs a Python with jax[cuda], flax, optax, ml_collections, absl
# and torch (CUDA); run from the repository root:
#
#   DATA_DIR=../shared/data/ptb OUT=/tmp/gpu_bench \
#       bash experiments/gpu_side_by_side.sh [parts]
#
# parts (default: all, in this order): tests jax cudnn torch aggressive
# highest iw. Each part writes its log and JSON under $OUT and has its own time
# limit, so one failing part does not lose the others. XLA's GPU compilation
# is slow (on an H100, 40-190 s for the six training shapes; BUILD_NOTES):
# the limits allow for it, and XLA_FLAGS=--xla_gpu_autotune_level=0 in the
# environment shortens it (the VAE rows of BUILD_NOTES were taken so).
set -u
DATA_DIR=${DATA_DIR:-../shared/data/ptb}
OUT=${OUT:-/tmp/gpu_bench}
PY=${PY:-python3}
PARTS=${*:-tests jax cudnn torch aggressive highest iw}
STEPS=${STEPS:-300}
export PYTHONUNBUFFERED=1
mkdir -p "$OUT"

run() {  # run NAME LIMIT_S COMMAND...: log to $OUT/NAME.log
  local name=$1 limit=$2
  shift 2
  echo "=== $name: $*"
  local t0=$SECONDS
  timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
  echo "=== $name: exit $? after $((SECONDS - t0)) s"
  tail -n 12 "$OUT/$name.log"
}

bench() {  # bench NAME LIMIT_S FLAGS...: experiments.benchmark
  local name=$1 limit=$2
  shift 2
  run "$name" "$limit" "$PY" -m experiments.benchmark --data_dir="$DATA_DIR" \
      --steps="$STEPS" --precompile --json_out="$OUT/$name.json" "$@"
}

nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm \
    --format=csv 2>&1 | head -3
"$PY" -c 'import jax, flax, optax, torch; print("jax", jax.__version__,
"flax", flax.__version__, "optax", optax.__version__, "torch",
torch.__version__, jax.devices())'

for part in $PARTS; do
  case $part in
    tests)  # cuDNN path against the scan, and the fast paths, on the GPU
      run tests 180 "$PY" -m pytest -q -p no:cacheprovider \
          tests/models/test_cudnn_lstm.py tests/models/test_fast_paths.py ;;
    jax)  # the default path (scan); K = 500 IW-NLL on 300 test sentences
      bench jax_scan 480 --models=lm,vae --iw_sentences=300 --iw_buckets=4 ;;
    torch)  # PyTorch, cuDNN nn.LSTM, fp32 and TF32, both batchings
      run torch_fp32 150 "$PY" experiments/torch_reference/benchmark_torch.py \
          --data_dir="$DATA_DIR" --models=vae,lm --device=cuda \
          --steps="$STEPS" --batching=equal,bucketed \
          --json_out="$OUT/torch_fp32.json"
      run torch_tf32 150 "$PY" experiments/torch_reference/benchmark_torch.py \
          --data_dir="$DATA_DIR" --models=vae,lm --device=cuda --tf32 \
          --steps="$STEPS" --batching=equal,bucketed \
          --json_out="$OUT/torch_tf32.json" ;;
    cudnn)  # JAX with the cuDNN LSTM (jax.experimental.rnn)
      bench jax_cudnn 400 --models=lm,vae --lstm_impl=cudnn --iw_samples=0 ;;
    aggressive)
      bench jax_aggr_scan 400 --models=aggressive --aggressive_iters=3
      bench jax_aggr_cudnn 400 --models=aggressive --aggressive_iters=3 \
          --lstm_impl=cudnn ;;
    highest)  # full fp32 matmuls (JAX's GPU default allows TF32)
      JAX_DEFAULT_MATMUL_PRECISION=highest bench jax_scan_fp32 300 \
          --models=vae --iw_samples=0 --mi_au=false
      JAX_DEFAULT_MATMUL_PRECISION=highest bench jax_cudnn_fp32 300 \
          --models=vae --iw_samples=0 --mi_au=false --lstm_impl=cudnn ;;
    iw)  # the K = 500 IW-NLL of the whole PTB test set
      bench jax_iw 600 --models=vae --steps=0 --iw_sentences=0 --mi_au=false ;;
    *) echo "unknown part $part" ;;
  esac
done
echo "=== tables"
for f in "$OUT"/*.json; do
  echo "--- $(basename "$f")"
  "$PY" -c 'import json, sys; print(json.load(open(sys.argv[1])).get("table", ""))' "$f"
done
