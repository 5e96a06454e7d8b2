#!/usr/bin/env bash
# Does super-resolution help EM segmentation? The experiment of the FIB-SEM study the em
# family follows, on the synthetic phantom:
#
#  1. two high-resolution (HR) EM phantoms: one to train on (seed 0), one to test on (seed 1);
#  2. each degraded to low resolution (LR): downscaled by FACTOR in xy (AXES=xy) or along
#     z (AXES=z) with the KERNEL ZSSR assumes (anti-aliased), rounded to uint8;
#  3. each LR volume brought back to the HR grid twice: by plain interpolation (UPSAMPLE,
#     bicubic) and by `medtk superres zssr` (an image-specific CNN trained on the LR volume);
#  4. `medtk train em` on the HR training volume; `medtk predict em` of the test volume in
#     its interpolated and its ZSSR form (and as HR, the reference); `medtk evaluate em`
#     of both against the HR truth, per-class F1;
#  5. `medtk train em` on the interpolated and on the ZSSR training volume instead (with the
#     HR labels: only the image changes), each tested on its own kind of test volume.
#
# Every volume on the HR grid keeps the HR labels; thresholds are chosen on the last
# VAL_FRACTION of the test volume along z and F1 is reported on the rest.
#
# Usage: examples/em_superres.sh [OUTPUT_DIR]   (default examples/output/em-superres)
# Sizes via the environment, e.g. SHAPE="64 256 256" EPOCHS=10 ZSSR_ITERATIONS=300.
# The defaults take about 20 CPU-minutes: 28 min on 2 cores shared with other jobs, about
# 10-15 min on 2 idle ones. Needs medtk on PATH (or MEDTK=…) and the Python that has
# medtk installed (PYTHON=…, default: python3 on PATH). DEVICE=auto uses a GPU if any.
set -euo pipefail

out=${1:-examples/output/em-superres}
SHAPE=${SHAPE:-"64 256 256"}        # HR volume, z y x
AXES=${AXES:-xy}                    # degrade and restore in xy, or along z
FACTOR=${FACTOR:-2}                 # resolution factor
KERNEL=${KERNEL:-bicubic}           # downscaling kernel (ZSSR assumes the same one)
UPSAMPLE=${UPSAMPLE:-bicubic}       # the baseline's interpolation: bicubic or bilinear
EPOCHS=${EPOCHS:-10}                # segmentation training
SAMPLES=${SAMPLES:-32}              # random patches per epoch
PATCH=${PATCH:-"16 64 64"}          # U-Net patch, z y x
WIDTH=${WIDTH:-8}                   # U-Net width
LR=${LR:-0.01}                      # learning rate
VAL_FRACTION=${VAL_FRACTION:-0.25}  # validation slab along z (training and evaluation)
ZSSR_ITERATIONS=${ZSSR_ITERATIONS:-300}
ZSSR_CHANNELS=${ZSSR_CHANNELS:-32}
ZSSR_ENSEMBLE=${ZSSR_ENSEMBLE:-no-ensemble}  # or "ensemble" (8 flips/rotations, 8× slower)
DEVICE=${DEVICE:-cpu}               # ZSSR, training and prediction: cpu, auto, cuda …
MEDTK=${MEDTK:-medtk}
PYTHON=${PYTHON:-$(command -v python3 || command -v python)}

rm -rf "$out"
mkdir -p "$out"
started=$SECONDS
log() { echo "== [$((SECONDS - started)) s] $*" >&2; }

# The few steps medtk has no command for (degrade a store, interpolate it back, give a
# volume on the HR grid the HR labels, the final table), with medtk's Python API.
helper() {
  "$PYTHON" - "$@" <<'PY'
import json, sys
from pathlib import Path

import numpy as np
import zarr

from medtk.io.ingest import IngestOptions, write_store
from medtk.io.source import array_source
from medtk.io.store import Store
from medtk.superres.kernels import resize

AXES = {"xy": (1, 2), "z": (0,)}


def write(image, like, out, spacing, labels=None):
    """A uint8 EM store of ``image``; with ``labels``, the HR store whose labels it gets."""
    source = array_source(np.clip(np.rint(image), 0, 255).astype(np.uint8), path=Path(out),
                          axes=("z", "y", "x"), spacing=spacing, unit=like.unit)
    label_sources = {}
    if labels is not None:
        truth = labels.label("classes")
        label_sources["classes"] = array_source(
            np.asarray(truth.array(0)[...]), path=Path(out) / "labels" / "classes",
            axes=("z", "y", "x"), spacing=spacing, unit=like.unit)
    write_store(source, Path(out), labels=label_sources,
                options=IngestOptions(modality="EM", min_size=1 << 30, workers=2))
    if labels is not None:  # the class names, as em-phantom records them
        names = labels.medtk.get("classes") or labels.label("classes").medtk.get("classes")
        group = zarr.open_group(str(out), mode="r+")["labels"]["classes"]
        medtk = dict(group.attrs.get("medtk", {}))
        medtk["classes"] = list(names)
        group.attrs["medtk"] = medtk


command, *args = sys.argv[1:]
if command == "degrade":  # HR LR AXES FACTOR KERNEL
    hr, lr, axes, factor, kernel = args
    store = Store.open(hr)
    image = np.asarray(store.array(0)[...], dtype=np.float32)
    scaled = AXES[axes]
    shape = [round(image.shape[a] / float(factor)) for a in scaled]
    small = resize(image, shape, axes=scaled, kernel=kernel)
    spacing = [s * (image.shape[a] / small.shape[a]) for a, s in enumerate(store.spacing)]
    write(small, store, lr, spacing)
elif command == "upsample":  # LR HR OUT KERNEL: interpolated to the HR grid, HR labels
    lr, hr, out, kernel = args
    small, store = Store.open(lr), Store.open(hr)
    image = np.asarray(small.array(0)[...], dtype=np.float32)
    write(resize(image, store.levels[0].shape, kernel=kernel), store, out, store.spacing, store)
elif command == "relabel":  # IMAGE HR OUT: a volume on the HR grid, given the HR labels
    image_path, hr, out = args
    image, store = Store.open(image_path), Store.open(hr)
    if tuple(image.levels[0].shape) != tuple(store.levels[0].shape):
        sys.exit(f"{image_path}: shape {image.levels[0].shape} is not the HR "
                 f"{store.levels[0].shape}")
    write(np.asarray(image.array(0)[...]), store, out, store.spacing, store)
elif command == "psnr":  # HR IMAGE: PSNR (dB) of a volume on the HR grid against HR
    hr, other = (np.asarray(Store.open(p).array(0)[...], dtype=np.float64) for p in args)
    print(f"{10 * np.log10(255.0**2 / np.mean((hr - other) ** 2)):.2f}")
elif command == "table":  # NAME=EVALUATION[:MODE] ...; PSNR as NAME=…@dB
    columns = []
    for arg in args:
        name, where = arg.split("=", 1)
        folder, _, mode = where.partition(":")
        metrics = json.loads((Path(folder) / "metrics.json").read_text())
        modes = metrics["modes"]
        columns.append((name, modes[mode] if mode else next(iter(modes.values()))))
    first = columns[0][1]["classes"]
    print("| class | % of test voxels | " + " | ".join(f"F1 {n}" for n, _ in columns) + " |")
    print("|---|---:|" + "---:|" * len(columns))
    for cls, entry in first.items():
        cells = [f"{c['classes'][cls]['f1']:.3f}" for _, c in columns]
        print(f"| {cls} | {entry['percent']:.2f} | " + " | ".join(cells) + " |")
    print("| **mean** | 100 | " + " | ".join(f"**{c['mean_f1']:.3f}**" for _, c in columns) + " |")
PY
}

# ZSSR is `medtk superres zssr`; where this medtk does not list it yet, register it here.
zssr() {
  if "$MEDTK" superres --help 2>/dev/null | grep -q zssr; then
    "$MEDTK" superres zssr "$@"
  else
    "$PYTHON" - superres zssr "$@" <<'PY'
import sys

from medtk.cli.main import main
from medtk.cli.state import AppState
from medtk.hookspecs import hookimpl
from medtk.plugins import load_plugins


class Zssr:
    @staticmethod
    @hookimpl
    def register_tasks(register):
        register("zssr", "medtk.superres.task:ZssrTask", description="ZSSR super-resolution")


state = AppState(loader=lambda: load_plugins(extra=[("zssr", Zssr())]))
sys.exit(main(sys.argv[1:], state=state))
PY
  fi
}

# shellcheck disable=SC2086  # SHAPE and PATCH are lists of numbers
{
log "HR phantoms $SHAPE: train (seed 0) and test (seed 1)"
"$MEDTK" preprocess em-phantom -o "$out/train-hr.zarr" --shape $SHAPE --seed 0 >/dev/null
"$MEDTK" preprocess em-phantom -o "$out/test-hr.zarr" --shape $SHAPE --seed 1 >/dev/null

for part in train test; do
  log "$part: LR volume (×$FACTOR smaller in $AXES, $KERNEL), $UPSAMPLE and ZSSR back to the HR grid"
  helper degrade "$out/$part-hr.zarr" "$out/$part-lr.zarr" "$AXES" "$FACTOR" "$KERNEL"
  helper upsample "$out/$part-lr.zarr" "$out/$part-hr.zarr" "$out/$part-interp.zarr" "$UPSAMPLE"
  zssr "$out/$part-lr.zarr" -o "$out/$part-zssr-raw.zarr" --axes "$AXES" --scale "$FACTOR" \
    --kernel "$KERNEL" --iterations "$ZSSR_ITERATIONS" --channels "$ZSSR_CHANNELS" \
    --"$ZSSR_ENSEMBLE" --device "$DEVICE" >/dev/null
  helper relabel "$out/$part-zssr-raw.zarr" "$out/$part-hr.zarr" "$out/$part-zssr.zarr"
  rm -rf "$out/$part-zssr-raw.zarr"
done
for kind in interp zssr; do
  echo "PSNR of the $kind test volume against HR: $(helper psnr "$out/test-hr.zarr" "$out/test-$kind.zarr") dB" >&2
done

train() {  # KIND: train on train-KIND.zarr into run-KIND
  "$MEDTK" train em "$out/train-$1.zarr" -o "$out/run-$1" --patch $PATCH --width "$WIDTH" \
    --epochs "$EPOCHS" --samples-per-epoch "$SAMPLES" --balanced --lr "$LR" \
    --val-fraction "$VAL_FRACTION" --device "$DEVICE" >/dev/null
}
predict() {  # RUN KIND NAME: predict test-KIND.zarr with run-RUN into NAME.zarr
  "$MEDTK" predict em "$out/test-$2.zarr" -r "$out/run-$1" -o "$out/predictions/$3.zarr" \
    --device "$DEVICE" >/dev/null
}
evaluate() {  # NAME [COMPARE]: F1 against the HR truth into evaluations/NAME
  "$MEDTK" evaluate em "$out/predictions/$1.zarr" --truth "$out/test-hr.zarr" \
    --val-fraction "$VAL_FRACTION" -o "$out/evaluations/$1" \
    ${2:+--compare "$out/predictions/$2.zarr"} >/dev/null
}
mkdir -p "$out/predictions" "$out/evaluations"

log "train em on the HR volume"
train hr
log "predict the test volume: HR (reference), $UPSAMPLE-upsampled LR, ZSSR-boosted LR"
predict hr hr hr-on-hr
predict hr interp hr-on-interp
predict hr zssr hr-on-zssr
log "evaluate em against the HR truth"
evaluate hr-on-hr
evaluate hr-on-interp hr-on-zssr

log "train em on the $UPSAMPLE-upsampled LR volume and on the ZSSR-boosted one"
train interp
train zssr
predict interp interp interp-on-interp
predict zssr zssr zssr-on-zssr
evaluate interp-on-interp zssr-on-zssr
}

log "done; per-class F1 on the test part of the test volume (thresholds from its validation slab)"
echo "LR: ×$FACTOR in $AXES ($KERNEL); trained on → tested on"
helper table \
  "HR → HR=$out/evaluations/hr-on-hr" \
  "HR → $UPSAMPLE=$out/evaluations/hr-on-interp:hr-on-interp" \
  "HR → ZSSR=$out/evaluations/hr-on-interp:hr-on-zssr" \
  "$UPSAMPLE → $UPSAMPLE=$out/evaluations/interp-on-interp:interp-on-interp" \
  "ZSSR → ZSSR=$out/evaluations/interp-on-interp:zssr-on-zssr" | tee "$out/f1.md"
echo "wall time $((SECONDS - started)) s; outputs in $out" >&2
