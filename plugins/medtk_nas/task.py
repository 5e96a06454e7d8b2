"""The nas study's tasks: bags of instances, the fusion models, and the study table."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from medtk.errors import BadInputError
from medtk.tasks import Task, TaskContext, TaskResult
from medtk_nas.options import BagsOptions, NasOptions, StudyOptions


class BagsTask(Task):
    """Patients as bags of liver CT slices and H&E tissue patches, per the method."""

    options: ClassVar = {"preprocess": BagsOptions}

    def preprocess(self, config: BagsOptions, ctx: TaskContext) -> TaskResult:
        """Turn every patient of a cohort table into instances: CT slices windowed to
        [-200, 250] HU and masked to the liver (slices with mean < 5 dropped), and 224 px
        H&E patches at 5× (mean > 220 dropped as background), all resized to --size and
        kept as uint8 in one zarr store with the patients' scores and folds.
        """
        import zarr

        from medtk.atomic import check_new_output, written_aside
        from medtk_nas.bags import BAGS_VERSION, CtRule, SlideRule, patient_instances
        from medtk_nas.bags import read_patients as read
        from medtk_nas.targets import TARGETS

        check_new_output(config.out, overwrite=config.overwrite, directory=True)
        patients = read(config.cohort, config.id_column, TARGETS)
        if not any(p.stores for p in patients):
            raise BadInputError(
                f"cohort table {str(config.cohort)!r} names no stores (store_ct / store_wsi "
                "columns); build it with 'medtk preprocess cohort LABELS --stores DIR'"
            )
        ct_rule = CtRule(hu=config.hu, min_mean=config.min_mean, size=config.size)
        slide_rule = SlideRule(
            magnification=config.magnification,
            patch=config.patch,
            background=config.background,
            size=config.size,
            max_patches=config.max_patches,
            seed=config.seed,
        )
        records = []
        with (
            written_aside(config.out, overwrite=config.overwrite, directory=True) as work,
            ctx.progress() as progress,
        ):
            group = zarr.open_group(str(work), mode="w")
            task = progress.add_task("patients", total=len(patients), status="")
            for patient in patients:
                counts, facts = {}, {}
                for modality, instances, found in patient_instances(
                    patient,
                    ct_rule,
                    slide_rule,
                    liver_label=config.liver_label,
                    liver_predictions=config.liver_predictions,
                ):
                    array = group.require_group(patient.id).create_array(
                        modality,
                        shape=instances.shape,
                        dtype="uint8",
                        chunks=(max(1, min(len(instances), 16)), *instances.shape[1:]),
                    )
                    array[...] = instances
                    counts[modality], facts[modality] = len(instances), found
                    if not len(instances):
                        ctx.log(f"warning: {patient.id}: no {modality} instances kept")
                records.append(
                    {"id": patient.id, "scores": patient.scores, "fold": patient.fold,
                     "counts": counts, "facts": facts}
                )  # fmt: skip
                progress.update(task, advance=1, status=patient.id)
            group.attrs["medtk"] = {
                "nas_bags": {
                    "version": BAGS_VERSION,
                    "size": config.size,
                    "cohort": str(Path(config.cohort).resolve()),
                    "ct": {"hu": list(config.hu), "min_mean": config.min_mean},
                    "he": {
                        "magnification": config.magnification,
                        "patch": config.patch,
                        "background": config.background,
                    },
                    "patients": records,
                }
            }
        totals = {m: sum(r["counts"].get(m, 0) for r in records) for m in ("ct", "he")}
        ctx.log(f"{len(records)} patients: {totals['ct']} CT slices and {totals['he']} H&E patches")
        return TaskResult(
            path=Path(config.out), record={"patients": len(records), "instances": totals}
        )


class NasTask(Task):
    """Fibrosis stage and NAFLD activity parts from CT and H&E, alone or fused."""

    options: ClassVar = {"train": NasOptions, "evaluate": StudyOptions}

    def train(self, config: NasOptions, ctx: TaskContext) -> TaskResult:
        """Train the patient-level multiple-instance network of the source: ResNet-18
        features per CT slice and per H&E patch (only the last block trains; the frozen
        part's features are cached), fc 512 → fc 128 per instance, average pooling per
        patient, a final fc; fusion ct, he, mid or late; loss single or multi. Adam, lr
        1e-4, 4 patients per batch, weight decay 0.01, 30 epochs, best epoch kept, 3-fold
        patient-level cross-validation by default.
        """
        from medtk.engine.session import check_run_target, train_task
        from medtk_nas.models import check_variant
        from medtk_nas.targets import merge_for

        check_variant(config.fusion, config.loss)
        merge_for(config.target, config.merge)
        check_run_target(config)
        from medtk_nas.training import nas_setup

        return train_task(config, ctx, nas_setup)

    def evaluate(self, config: StudyOptions, ctx: TaskContext) -> TaskResult:
        """Score a nas run (per fold: AUC with a bootstrap interval, mean ± std over
        folds, ROC and confusion plots), or a whole study folder of runs named
        TARGET/VARIANT: then also the study table (rows: CT, H&E, mid/late × single/multi,
        patch baseline; columns: the targets) as CSV and Markdown, and the per-fold
        AUC-with-interval plot.
        """
        from medtk.evaluate.predictions import evaluate_source
        from medtk_nas.study import evaluate_study, is_study

        if is_study(config.source):
            return evaluate_study(config, ctx)
        return evaluate_source(config, ctx)
