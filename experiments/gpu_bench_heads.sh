#!/usr/bin/env bash
# Issue 24's benchmarks on a GPU machine: Keras on JAX, no TensorFlow needed. The same parts as
# experiments/bench_heads_targets.sh (tf_wsoftmax.app.bench.targets), on the GPU: the heads against
# their own product floor at K = 10575, 10^5 and 10^6, Partial FC's head + optimizer update at
# K = 10^5 and 10^6, and the train step's memory at K = 10^6 (XLA's memory_analysis on the device).
#
#   bash experiments/gpu_bench_heads.sh OUT_DIR
#
# On a machine with JAX but no Keras, carry the wheels of Keras, namex and optree in .whl/ (the
# command is in docs/benchmarks.md); they are installed into /tmp/site first. Not run yet: no GPU was
# lent to the session that wrote it (docs/benchmarks.md).
set -euo pipefail
if [ $# -lt 1 ]; then
  echo "usage: $0 OUT_DIR" >&2
  exit 2
fi
out=$1
here=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}
export KERAS_BACKEND=jax
if [ -d "$here/.whl" ] && ! "$python" -c "import keras" 2>/dev/null; then
  "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$here"/.whl/*.whl
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$here${PYTHONPATH:+:$PYTHONPATH}
options="--repeats ${REPEATS:-10} --rounds ${ROUNDS:-3}"
mkdir -p "$out"
"$python" -c "import jax; print(jax.devices())" | tee "$out/devices.txt"
"$python" -m tf_wsoftmax.app.bench.targets heads $options --classes 10575 100000 1000000 --json "$out/heads_gpu.json" \
  | tee "$out/heads_gpu.md"
for k in 100000 1000000; do
  "$python" -m tf_wsoftmax.app.bench.targets partial_fc $options --classes $k --json "$out/partial_fc_gpu_$k.json" \
    | tee "$out/partial_fc_gpu_$k.md"
done
"$python" -m tf_wsoftmax.app.bench.targets memory --classes 1000000 --json "$out/memory_gpu.json" | tee "$out/memory_gpu.md"
"$python" -m tf_wsoftmax.app.bench.targets summarize "$out"/*.json | tee "$out/targets.md"
