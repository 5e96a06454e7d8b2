"""``medtk preprocess ingest``: inputs → OME-Zarr stores, with a progress bar per store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from medtk.errors import BadInputError, Interrupted, Terminated
from medtk.preprocess.config import IngestConfig
from medtk.tasks import Task, TaskContext, TaskResult
from medtk.threads import default_workers

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID


class _Bar:
    """Adapts an ingest's progress callbacks to one rich progress bar."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.bar: TaskID | None = None

    def start(self, description: str, total: int) -> None:
        self.bar = self.progress.add_task(description, total=total, status="blocks")

    def advance(self, blocks: int) -> None:
        if self.bar is not None:
            self.progress.update(self.bar, advance=blocks)


@contextmanager
def kept_for_resume(out: Path, again: str) -> Iterator[None]:
    """On Ctrl-C or SIGTERM, say that the partial store is kept and how to resume it.

    The store writer keeps its partial output on an interruption (not on an error), so
    the CLI's generic "outputs in progress were removed" would be wrong here.
    """
    try:
        yield
    except (KeyboardInterrupt, Interrupted) as exc:
        terminated = isinstance(exc, Terminated)
        kind = Terminated if terminated else Interrupted
        what = "terminated by SIGTERM" if terminated else "interrupted"
        raise kind(f"{what} while writing {str(out)!r}; {again} to resume it") from None


class IngestTask(Task):
    """Write inputs into OME-Zarr stores."""

    options: ClassVar = {"preprocess": IngestConfig}

    def preprocess(self, config: IngestConfig, ctx: TaskContext) -> TaskResult:
        """Write each input (DICOM series, NIfTI, NRRD/MetaImage, TIFF/OME-TIFF, whole-slide
        image, PNG/JPEG slices, HDF5 pairs, .npy) into an OME-Zarr store with a multiscale
        pyramid, physical pixel sizes and medtk metadata, streaming block by block.

        One input: -o names the store. Several: -o is a folder, one STEM.zarr per input.
        An interrupted ingest resumes where it stopped when run again.
        """
        from medtk.atomic import check_new_output
        from medtk.io.ingest import IngestOptions, ingest, output_paths

        sources = config.sources
        if config.label and len(config.label) != len(sources):
            raise BadInputError(
                f"{len(config.label)} --label given for {len(sources)} inputs; "
                "give one label image per input, in the same order"
            )
        if config.subject and len(sources) > 1:
            raise BadInputError("--subject names one subject; it needs exactly one input")
        outputs = output_paths(sources, config.out)
        for out in outputs:  # refuse before hours of work, not after
            check_new_output(out, overwrite=config.overwrite, directory=True)
        options = IngestOptions(
            format=config.format,
            label_format=config.label_format,
            label_name=config.label_name,
            modality=config.modality,
            subject=config.subject,
            chunk_xy=config.chunk_xy,
            chunk_z=config.chunk_z,
            min_size=config.min_size,
            workers=default_workers(config.workers),
            block_bytes=config.block_mb << 20,
            overwrite=config.overwrite,
        )
        records = []
        labels = config.label or [None] * len(sources)
        with ctx.progress() as progress:
            for source, label, out in zip(sources, labels, outputs, strict=True):
                again = (
                    "run the same command again"
                    if len(sources) == 1
                    else f"ingest {str(source)!r} alone to {str(out)!r}, same options,"
                )
                with kept_for_resume(out, again):
                    result = ingest(
                        source,
                        out,
                        ctx.registries.readers,
                        label_path=label,
                        options=options,
                        progress=_Bar(progress),
                    )
                if result.resumed_blocks:
                    ctx.log(f"{out}: resumed, {result.resumed_blocks} blocks were already written")
                records.append(
                    {
                        "store": str(result.path),
                        "source": str(source),
                        "axes": "".join(result.axes),
                        "shape": list(result.shape),
                        "levels": result.levels,
                        "labels": result.labels,
                        "resumed_blocks": result.resumed_blocks,
                    }
                )
        return TaskResult(
            path=outputs[0] if len(outputs) == 1 else config.out,
            paths=outputs,
            record={"stores": records},
        )
