#!/usr/bin/env bash
# End-to-end face run on a small pack built offline (experiments/small_face_pack.py):
# pack -> bench input -> train-faces on the .rec with val.bin evaluated during training -> verify.
# Usage: bash experiments/faces_small_pack.sh [OUT=runs/small_face_pack] (STEPS=300 by default)
set -euo pipefail
OUT=${1:-runs/small_face_pack}
STEPS=${STEPS:-300}
PY=${PY:-.venv/bin/python}
CLI=${CLI:-.venv/bin/tf-wsoftmax}
$PY experiments/small_face_pack.py "$OUT"
$CLI pack "$OUT/identities" "$OUT/train.rec"
$CLI bench input --data "$OUT/train.rec" --batch 64 --image-size 112 --max-images 1000 --json "$OUT/bench_input.json"
$CLI train-faces --data "$OUT/train.rec" --out "$OUT/run" --backbone mobilenet_v3_small --image-size 112 \
  --batch-size 64 --steps "$STEPS" --learning-rate 0.1 --decay-every 200 --checkpoint-every 100 \
  --bin "$OUT/val.bin" --evaluate-every 100 --quiet
$CLI verify --model "$OUT/run/embedder.keras" --bin "$OUT/val.bin" --flip --json "$OUT/verify.json"
