#!/usr/bin/env bash
# medtk quickstart: list what is installed, train through a plugin, repeat a run from its
# saved config, predict, read results as JSON, and bring a slide into an OME-Zarr store
# with a tissue patch grid — the way shell pipelines use medtk.
# Needs medtk and tests/fixtures/medtk-example-plugin installed (`nox -s demo` does both).
# Usage: examples/quickstart.sh [OUTPUT_DIR]
set -euo pipefail

out=${1:-examples/output/quickstart}
rm -rf "$out"
mkdir -p "$out"
python=$(command -v python3 || command -v python)

echo "== medtk $(medtk --version | cut -d' ' -f2): installed plugins" >&2
medtk plugins

echo "== train: stdout carries only the run folder's path" >&2
run=$(medtk train example -o "$out/run" --epochs 40 --seed 1)
ls "$run" >&2

echo "== repeat the run from its saved config, overriding one option (dry run)" >&2
medtk train example --config "$run/config.yaml" --epochs 80 -o "$out/run-80" --dry-run

echo "== train again with machine-readable output" >&2
medtk train example --config "$run/config.yaml" --optimizer adam --lr 0.05 \
  -o "$out/run-adam" --json > "$out/run-adam.json"
"$python" -c 'import json, sys; print("adam run: AUC {val_auc:.3f}, accuracy {val_accuracy:.3f}".format(**json.load(open(sys.argv[1]))))' "$out/run-adam.json" >&2

echo "== predict: score new points with the first run" >&2
printf '5.0,5.0\n9.0,9.0\n1.0,1.0\n' > "$out/points.csv"
medtk predict example "$run" "$out/points.csv" -o "$out/predictions.csv"
paste -d' ' "$out/points.csv" "$out/predictions.csv" >&2

echo "== preprocess: a sample slide into an OME-Zarr store, then a 5x tissue patch grid" >&2
slide=$(medtk preprocess sample slide -o "$out/slide.tif" --size 4096)
store=$(medtk preprocess ingest "$slide" -o "$out/slide.zarr")
medtk preprocess info "$store"
patches=$(medtk preprocess patches "$store" --magnification 5 --size 224)
ls "$patches" >&2
head -3 "$patches/patches.csv" >&2

echo "== engine: a tiny CNN, 3-fold cross-validation, then AUC with bootstrap intervals" >&2
cv=$(medtk train shapes -o "$out/shapes-cv" --folds 3 --epochs 8)
cat "$cv/folds.csv" >&2
evaluation=$(medtk evaluate shapes "$cv" --bootstrap 500)
ls "$evaluation" >&2

echo "== bad input exits 2 with one line" >&2
if medtk train example -o "$out/bad" --epochs many 2> "$out/error.txt"; then
  echo "expected a failure" >&2
  exit 1
else
  code=$?
  echo "exit code $code: $(cat "$out/error.txt")" >&2
  [ "$code" -eq 2 ]
fi
echo "quickstart finished: outputs in $out" >&2
