"""``medtk preprocess sample``: realistic sample inputs in real formats, for demos and tests."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from medtk.preprocess.config import SampleConfig
from medtk.tasks import Task, TaskContext, TaskResult


class SampleTask(Task):
    """Write a synthetic slide, CT series or MR volume to try medtk on."""

    options: ClassVar = {"preprocess": SampleConfig}

    def preprocess(self, config: SampleConfig, ctx: TaskContext) -> TaskResult:
        """Write sample data that looks like the real thing, in the formats medtk reads:
        an H&E whole-slide image (pyramidal JPEG-tiled TIFF, 20×, 0.5 µm/px), an abdominal
        CT (DICOM series in Hounsfield units, with a liver mask), or a brain MR (NIfTI).
        Generated on the spot and seeded; nothing is downloaded.
        """
        from medtk.atomic import check_new_output, written_aside

        check_new_output(config.out, overwrite=config.overwrite, directory=config.kind == "ct")
        if config.mask is not None:
            check_new_output(config.mask, overwrite=config.overwrite)
        ctx.log(f"writing a sample {config.kind} to {config.out} …")
        with written_aside(
            config.out, overwrite=config.overwrite, directory=config.kind == "ct"
        ) as target:
            self._write(config, Path(target))
        return TaskResult(path=config.out, record={"kind": config.kind, "seed": config.seed})

    @staticmethod
    def _write(config: SampleConfig, target: Path) -> None:
        from medtk import datasets

        if config.kind == "slide":
            side = config.size or 8192
            datasets.write_slide(target, width=side, height=side, seed=config.seed)
            return
        if config.kind == "ct":
            datasets.write_ct_series(
                target,
                slices=config.slices or 40,
                size=config.size or 256,
                seed=config.seed,
                mask_path=config.mask,
            )
            return
        shape = (config.slices or 32, config.size or 96, config.size or 96)
        datasets.write_nifti(target, shape=shape, seed=config.seed)
        if config.mask is not None:
            datasets.write_nifti_label(config.mask, shape=shape, seed=config.seed)
