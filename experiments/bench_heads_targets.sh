#!/usr/bin/env bash
# Issue 24's targets measured on this machine (CPU): the chunked heads against their own product
# floor, W-Softmax against normalised softmax, Partial FC's head + optimizer update against the
# rate, and the per-device memory of a train step at K = 10^6 (8 virtual devices).
#
#   bash experiments/bench_heads_targets.sh OUT_DIR [heads K...]
#
# OUT_DIR receives heads_{tensorflow,jax}.json, partial_fc_{tensorflow,jax}.json, memory_jax.json,
# their tables (*.md) and targets.md (every target with its measured ratio or peak and its bound).
# The heads' K default to 10575 and 100000. Each part is one process: min and median of interleaved
# rounds (--repeats 5 --rounds 3; REPEATS / ROUNDS override them). On a shared machine run it when
# nothing else does (about 30 minutes on 2 cores).
set -euo pipefail
if [ $# -lt 1 ]; then
  echo "usage: $0 OUT_DIR [K...]" >&2
  exit 2
fi
out=$1
shift
classes=${*:-10575 100000}
here=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}
export PYTHONPATH=$here${PYTHONPATH:+:$PYTHONPATH} TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
options="--repeats ${REPEATS:-5} --rounds ${ROUNDS:-3}"
mkdir -p "$out"
run() {  # backend part json [extra...]
  local backend=$1 part=$2 json=$3
  shift 3
  KERAS_BACKEND=$backend "$python" -m tf_wsoftmax.app.bench.targets "$part" $options --json "$out/$json.json" "$@" \
    | tee "$out/$json.md"
}
for backend in tensorflow jax; do
  run $backend heads heads_$backend --classes $classes
  run $backend partial_fc partial_fc_$backend --classes 100000
done
XLA_FLAGS=--xla_force_host_platform_device_count=8 run jax memory memory_jax --classes 1000000
KERAS_BACKEND=jax "$python" -m tf_wsoftmax.app.bench.targets summarize "$out"/*.json | tee "$out/targets.md"
