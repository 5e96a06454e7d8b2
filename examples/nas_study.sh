#!/usr/bin/env bash
# medtk nas study, end to end: NAFLD scores (steatosis, lobular inflammation, ballooning,
# fibrosis) from CT and H&E, alone or fused, on a synthetic cohort: cohort → stores →
# liver segmentation → bags of instances → every model variant and the patch baseline for
# every target → the study table. Walked through in docs/nas.md. Downloads nothing.
# Needs medtk installed (`nox -s demo` runs it with smaller sizes).
# Usage: examples/nas_study.sh [OUTPUT_DIR]
#
# Sizes come from the environment; the defaults ran in 19 minutes on two busy CPU cores:
#   NAS_PATIENTS=60       patients of the synthetic cohort
#   NAS_SLIDE_SIZE=4096   slide width and height at 20× (4096: ~7–15 tissue patches at 5×)
#   NAS_LIVER_SIZE=96     liver U-Net input size, and NAS_LIVER_EPOCHS=3 its epochs
#   NAS_SIZE=224          instance size (the method's): slices and patches are resized to it
#   NAS_EPOCHS=30         epochs of every nas run (NAS_FOLDS=3 folds each), as the method
#   NAS_LR=0.001          learning rate of every nas run (the method: 1e-4, for ImageNet
#                         weights; the demo's random ones need a larger step)
#   NAS_TRAIN_BLOCKS=0    trainable ResNet-18 stages. 0 freezes the whole ResNet: its
#                         features are computed once, cached and shared by all 28 runs,
#                         so each run trains only the small fusion network (fast). The
#                         method trains the last stage: 1, the default of 'medtk train nas'
#                         (many times slower on a CPU: minutes per run, not seconds).
#   NAS_MAX_INSTANCES=0   instances per patient and modality per training step (0: all)
#   NAS_MAX_PATCHES=0     H&E patches kept per slide (0: all)
#   NAS_LOBULAR=0-1|2-3   lobular inflammation classes. The method's 0|1|2-3 needs every
#                         class in every fold, and few patients score 0 (5 %)
set -euo pipefail

out=${1:-examples/output/nas-study}
patients=${NAS_PATIENTS:-60}
slide_size=${NAS_SLIDE_SIZE:-4096}
liver_size=${NAS_LIVER_SIZE:-96}
liver_epochs=${NAS_LIVER_EPOCHS:-3}
size=${NAS_SIZE:-224}
epochs=${NAS_EPOCHS:-30}
lr=${NAS_LR:-0.001}
folds=${NAS_FOLDS:-3}
train_blocks=${NAS_TRAIN_BLOCKS:-0}
max_instances=${NAS_MAX_INSTANCES:-0}
max_patches=${NAS_MAX_PATCHES:-0}
lobular=${NAS_LOBULAR:-0-1|2-3}
python=$(command -v python3 || command -v python)

rm -rf "$out"
mkdir -p "$out/logs"
# the paths below are relative to the work folder, which also holds the cohort table
cd "$out"
SECONDS=0

echo "== 1. a synthetic cohort: CT series, liver masks, H&E slides and NASH CRN scores" >&2
cohort=$(medtk preprocess nas-cohort -o cohort --patients "$patients" --slide-size "$slide_size")
head -4 "$cohort/labels.csv" >&2

echo "== 2. ingest: the CT series with their liver masks (label 'liver'), the slides" >&2
series=() masks=()
for folder in "$cohort"/ct/*/; do
  series+=("${folder%/}")
  masks+=(--label "${folder%/}.liver.nii.gz")
done
medtk preprocess ingest "${series[@]}" "${masks[@]}" --label-name liver -o stores/ct \
  2> logs/ingest.log | tail -1 >&2
medtk preprocess ingest "$cohort"/he/*.tif -o stores/he 2>> logs/ingest.log | tail -1 >&2

echo "== 3. the cohort table: stores matched to patients, folds stratified by fibrosis" >&2
# stratified by the fibrosis classes the models learn (0 / 1-2 / 3-4): the raw stages
# include rare ones (3.5) with fewer patients than folds
"$python" - "$cohort/labels.csv" labels.csv <<'EOF'
import csv, sys

rows = list(csv.DictReader(open(sys.argv[1], newline="")))
for row in rows:
    stage = float(row["fibrosis"])
    row["fibrosis_class"] = 0 if stage < 1 else 1 if stage < 3 else 2
with open(sys.argv[2], "w", newline="") as handle:
    writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
EOF
table=$(medtk preprocess cohort labels.csv --stores stores/ct --stores stores/he \
  --id-column patient --folds "$folds" --stratify fibrosis_class -o cohort.csv)
head -3 "$table" >&2

# the CT stores of the patients in fold 0 ("==") or outside it ("!=")
ct_stores() {
  "$python" -c 'import csv, sys
for row in csv.DictReader(open(sys.argv[1], newline="")):
    if (row["fold"] == "0") == (sys.argv[2] == "=="):
        print(row["store_ct"])' "$table" "$1"
}

echo "== 4. liver segmentation: a 2D U-Net trained on the CT outside fold 0" >&2
mapfile -t train_ct < <(ct_stores '!=')
liver=$(medtk train nas-liver "${train_ct[@]}" -o liver-run --size "$liver_size" \
  --width 16 --batch-size 16 --epochs "$liver_epochs" 2> logs/liver-train.log)
grep best logs/liver-train.log >&2

echo "== 5. the liver of every CT store, then Dice on the patients of fold 0" >&2
for store in stores/ct/*.zarr; do
  medtk predict nas-liver "$store" --run "$liver" --output labels \
    -o "liver/$(basename "$store" .zarr).nas-liver.zarr"
done 2> logs/liver-predict.log | wc -l | xargs printf '%s liver predictions in liver/\n' >&2
mapfile -t test_ct < <(ct_stores '==')
for store in "${test_ct[@]}"; do
  name=$(basename "$store" .zarr)
  medtk evaluate nas-liver "liver/$name.nas-liver.zarr" -o "liver/$name.evaluation"
done 2> logs/liver-evaluate.log > /dev/null
"$python" -c 'import json, sys
dice = [json.load(open(path))["mean_dice"] for path in sys.argv[1:]]
print(f"liver Dice of {len(dice)} patients the U-Net never saw: mean {sum(dice) / len(dice):.3f}, "
      f"lowest {min(dice):.3f}")' liver/*.evaluation/metrics.json >&2

echo "== 6. bags: each patient's liver CT slices and H&E tissue patches" >&2
bags=$(medtk preprocess nas-bags "$table" -o bags.zarr --size "$size" \
  --liver-predictions liver --max-patches "$max_patches" 2> logs/bags.log)
tail -1 logs/bags.log >&2

echo "== 7. the study: 6 variants and the patch baseline for 4 targets, $folds folds each" >&2
options=(--train-blocks "$train_blocks" --max-instances "$max_instances" --epochs "$epochs"
  --lr "$lr" --folds "$folds")
# one cross-validated run into study/TARGET/VARIANT, its log into logs/; one line per run
study_run() {
  local name=$1
  shift
  medtk train "$@" "${options[@]}" -o "study/$name" --json 2> "logs/${name/\//-}.log" |
    "$python" -c 'import json, sys
run = json.load(sys.stdin)
auc = run["mean_best_val_auc"], run["std_best_val_auc"]
print("%-24s AUC %.3f ± %.3f" % (sys.argv[1], *auc))' \
      "$name" >&2
}
for target in steatosis fibrosis lobular ballooning; do
  task=(--target "$target")
  if [ "$target" = lobular ]; then
    task+=(--merge "$lobular")
  fi
  study_run "$target/ct" nas "$bags" "${task[@]}" --fusion ct
  study_run "$target/he" nas "$bags" "${task[@]}" --fusion he
  for fusion in mid late; do
    for loss in single multi; do
      study_run "$target/$fusion-$loss" nas "$bags" "${task[@]}" --fusion "$fusion" \
        --loss "$loss"
    done
  done
  study_run "$target/patch" nas-patch "$bags" "${task[@]}"
done

echo "== 8. the study table: AUC per fold with bootstrap intervals, mean ± std over folds" >&2
evaluation=$(medtk evaluate nas study)
ls "$evaluation" >&2
echo "nas study finished in $((SECONDS / 60)) min $((SECONDS % 60)) s:" \
  "the table is $out/$evaluation/table.md" >&2
