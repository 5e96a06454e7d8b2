"""``medtk preprocess nas-cohort``: a synthetic NAFLD cohort of CT, liver masks, H&E, scores."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from medtk.tasks import Task, TaskContext, TaskResult
from medtk_nas.config import NasCohortConfig


class CohortTask(Task):
    """Write a synthetic NAFLD cohort: per patient a CT series, liver mask and H&E slide."""

    options: ClassVar = {"preprocess": NasCohortConfig}

    def preprocess(self, config: NasCohortConfig, ctx: TaskContext) -> TaskResult:
        """Write a synthetic NAFLD cohort whose images follow its NASH-CRN scores.

        Per patient (P001 …): an unenhanced abdominal CT as a DICOM series in
        ct/PATIENT/ (liver attenuation falls with steatosis, the outline turns nodular
        with fibrosis), its liver mask ct/PATIENT.liver.nii.gz, and a liver biopsy as a
        pyramidal H&E TIFF he/PATIENT.tif at 20× (fat vacuoles, ballooned hepatocytes,
        inflammatory foci and fibrous septa as the scores say). labels.csv holds
        patient,steatosis,lobular,ballooning,fibrosis. Seeded; nothing is downloaded.
        """
        from medtk.atomic import check_new_output, written_aside
        from medtk_nas import cohort

        check_new_output(config.out, overwrite=config.overwrite, directory=True)
        patients = cohort.draw_patients(config.patients, config.seed)
        ctx.log(
            f"writing {len(patients)} synthetic NAFLD patients to {config.out} "
            f"(CT {config.slices} × {config.ct_size}², H&E {config.slide_size}² at 20×) …"
        )
        with (
            written_aside(config.out, overwrite=config.overwrite, directory=True) as target,
            ctx.progress() as progress,
        ):
            bar = progress.add_task("nas-cohort", total=len(patients), status="")
            for patient in patients:
                progress.update(bar, status=patient.patient)
                cohort.write_patient(
                    Path(target),
                    patient,
                    slices=config.slices,
                    ct_size=config.ct_size,
                    slide_size=config.slide_size,
                )
                progress.advance(bar)
            progress.update(bar, status="labels.csv")
            cohort.write_labels(Path(target) / cohort.LABELS_FILE, patients)
        counts = cohort.score_counts(patients)
        return TaskResult(
            path=config.out,
            record={
                "patients": len(patients),
                "seed": config.seed,
                "labels": str(config.out / cohort.LABELS_FILE),
                "slices": config.slices,
                "ct_size": config.ct_size,
                "slide_size": config.slide_size,
                "counts": counts,
            },
        )
