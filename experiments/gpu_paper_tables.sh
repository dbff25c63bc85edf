#!/usr/bin/env bash
# The paper's Table 1 (softmax, L-Softmax, W-Softmax alpha 0.5 / 1 / 1.5), Fig. 5's per-class angles
# and Table 4's first-K-classes rows on MNIST or Fashion-MNIST, with the released MNIST network and the
# paper's schedule, on Keras-JAX, sized to a time budget (one timed epoch first).
#
#   bash experiments/gpu_paper_tables.sh DATA_DIR OUT_DIR [--tiny] [--dataset fashion_mnist] [--budget-minutes 10]
#
# DATA_DIR holds the IDX files (train-images-idx3-ubyte[.gz], ...). OUT_DIR receives paper_tables.json,
# paper_tables.md and fig5_angles.png (3 files); the run folders go to $RUNS (default /tmp/gpu_paper_runs).
# Other arguments go to `tf-wsoftmax paper-tables`. TensorFlow is not needed: on a GPU machine with JAX but
# no Keras, carry the wheels of Keras, namex and optree in .whl/ (docs/reproduction.md gives the command);
# they are installed into /tmp/site first. --tiny (backbone tiny, 1 epoch, Table 4 at K = 5 only) is the
# CPU smoke test that tests/app/test_paper_tables.py runs.
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 DATA_DIR OUT_DIR [paper-tables options]" >&2
  exit 2
fi
data=$1
out=$2
shift 2
here=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}
export KERAS_BACKEND=jax MPLBACKEND=Agg
if [ -d "$here/.whl" ] && ! "$python" -c "import keras" 2>/dev/null; then
  "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$here"/.whl/*.whl
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$here${PYTHONPATH:+:$PYTHONPATH}
mkdir -p "$out"
exec "$python" "$here/tf_wsoftmax_cli.py" paper-tables --backend jax --data-dir "$data" --out "$out" \
  --runs-dir "${RUNS:-/tmp/gpu_paper_runs}" "$@"
