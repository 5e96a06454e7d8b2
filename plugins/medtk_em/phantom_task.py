"""``medtk preprocess em-phantom``: a synthetic FIB-SEM store with eight-class labels.

The volume is generated block by block while the store writer streams it
(:func:`medtk.io.ingest.write_store`, the writer ``medtk preprocess ingest`` uses), so
memory stays bounded whatever the shape. Rendering a block of the image yields its
labels as well; they are kept on disk beside the store being written (a memory-mapped
scratch file, deleted with it) so the label pass reads them instead of rendering again.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from medtk.tasks import Task, TaskContext, TaskResult
from medtk_em.config import EmPhantomConfig
from medtk_em.phantom import CLASSES

if TYPE_CHECKING:
    from numpy.typing import NDArray
    from rich.progress import Progress, TaskID

    from medtk.io.source import ImageSource
    from medtk_em.phantom import Phantom

#: Name of the label image in the store.
LABEL_NAME = "classes"


class _Bar:
    """Adapts the store writer's progress callbacks to one rich progress bar."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.bar: TaskID | None = None

    def start(self, description: str, total: int) -> None:
        self.bar = self.progress.add_task(description, total=total, status="blocks")

    def advance(self, blocks: int) -> None:
        if self.bar is not None:
            self.progress.update(self.bar, advance=blocks)


class _Blocks:
    """The phantom's image and labels as the store writer reads them, region by region.

    The image pass renders each block once and parks its labels in a scratch file; the
    label pass takes them from there (or renders them, for a region it has not seen).
    Labels are counted as they are handed out, for the class fractions.
    """

    def __init__(self, phantom: Phantom, scratch: Path) -> None:
        self.phantom = phantom
        self.parked: NDArray[np.uint8] = np.lib.format.open_memmap(
            scratch, mode="w+", dtype=np.uint8, shape=phantom.shape
        )
        self.done: set[tuple[tuple[int, int], ...]] = set()
        self.counts = np.zeros(len(CLASSES), np.int64)
        self.lock = threading.Lock()

    def close(self) -> None:
        """Let go of the scratch file (its mapping closes with the last reference)."""
        self.parked = np.zeros((0, 0, 0), np.uint8)
        self.done.clear()

    @staticmethod
    def _key(region: tuple[slice, ...]) -> tuple[tuple[int, int], ...]:
        return tuple((int(s.start), int(s.stop)) for s in region)

    def image(self, region: tuple[slice, ...]) -> NDArray[np.uint8]:
        image, labels = self.phantom.image_and_labels(region)
        self.parked[region] = labels
        with self.lock:
            self.done.add(self._key(region))
        return image

    def labels(self, region: tuple[slice, ...]) -> NDArray[np.uint8]:
        with self.lock:
            parked = self._key(region) in self.done
        labels = np.array(self.parked[region]) if parked else self.phantom.labels(region)
        counts = np.bincount(labels.ravel(), minlength=len(self.counts))
        with self.lock:
            self.counts += counts
        return labels


class PhantomTask(Task):
    """A synthetic FIB-SEM volume of brain tissue with labels of eight classes."""

    options: ClassVar = {"preprocess": EmPhantomConfig}

    def preprocess(self, config: EmPhantomConfig, ctx: TaskContext) -> TaskResult:
        """Write a synthetic FIB-SEM volume of brain neuropil as an OME-Zarr store (uint8,
        axes zyx, spacing in nm) with its labels under labels/classes: 0 cytosol,
        1 synapses, 2 mitochondria, 3 membranes, 4 vesicles, 5 ER, 6 microtubules,
        7 myelin. Membranes and myelin are dark on a lighter cytoplasm; the image is
        blurred, drifts along z, has curtaining stripes and Poisson-Gaussian noise.
        Seeded: the same --seed, --shape and --voxel-nm give the same voxels.
        """
        from medtk.atomic import check_new_output, replace_path
        from medtk.io.ingest import IngestOptions, write_store
        from medtk.threads import default_workers
        from medtk_em.phantom import Phantom, fractions_from_counts

        out = Path(config.out)
        check_new_output(out, overwrite=config.overwrite, directory=True)
        started = time.perf_counter()
        shape = " × ".join(map(str, config.shape))
        ctx.log(f"em-phantom: placing the objects of {shape} voxels at {config.voxel_nm:g} nm …")
        phantom = Phantom(
            config.shape, seed=config.seed, voxel_nm=config.voxel_nm, noise=config.noise
        )
        counts = _object_counts(phantom)
        out.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
        try:
            blocks = _Blocks(phantom, work / "labels.npy")
            target = work / out.name
            image, labels = _sources(phantom, blocks, config, counts)
            options = IngestOptions(
                modality="EM", subject=out.name.removesuffix(".zarr"), workers=default_workers()
            )
            with ctx.progress() as progress:
                result = write_store(
                    image, target, labels={LABEL_NAME: labels}, options=options,
                    progress=_Bar(progress),
                )  # fmt: skip
            blocks.close()
            fractions = fractions_from_counts(blocks.counts)
            _describe(target, list(CLASSES), fractions, _command(config))
            check_new_output(out, overwrite=config.overwrite, directory=True)
            replace_path(target, out)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        seconds = time.perf_counter() - started
        ctx.log(
            "em-phantom: "
            + ", ".join(f"{name} {100 * share:.1f}%" for name, share in fractions.items())
            + f" ({seconds:.1f} s)"
        )
        return TaskResult(
            path=out,
            record={
                "shape": list(config.shape),
                "voxel_nm": config.voxel_nm,
                "seed": config.seed,
                "noise": config.noise,
                "levels": result.levels,
                "labels": LABEL_NAME,
                "classes": list(CLASSES),
                "fractions": fractions,
                "objects": counts,
                "seconds": round(seconds, 2),
            },
        )


def _object_counts(phantom: Phantom) -> dict[str, int]:
    """How many objects of each kind the catalogue holds (reported, and in the metadata)."""
    cat = phantom.catalogue
    kinds = np.bincount(cat.neurites.kind, minlength=3)
    return {
        "axons": int(kinds[0]),
        "dendrites": int(kinds[1]),
        "myelinated_axons": int(kinds[2]),
        "mitochondria": len(cat.mito_r),
        "synapses": len(cat.syn_r),
        "vesicles": len(cat.ves_r),
        "microtubules": len(cat.mt_host),
    }


def _sources(
    phantom: Phantom, blocks: _Blocks, config: EmPhantomConfig, counts: dict[str, int]
) -> tuple[ImageSource, ImageSource]:
    """The image and label sources the store writer streams from."""
    from medtk.io.source import ImageSource
    from medtk_em.phantom import TARGET_FRACTIONS

    name = Path(f"em-phantom-seed{config.seed}")
    common: dict[str, Any] = {
        "format": "em-phantom",
        "axes": ("z", "y", "x"),
        "shape": phantom.shape,
        "dtype": np.dtype(np.uint8),
        "spacing": (phantom.voxel_nm,) * 3,
        "unit": "nanometer",
    }
    metadata = {
        "phantom": {
            "generator": "medtk_em.phantom",
            "seed": config.seed,
            "voxel_nm": phantom.voxel_nm,
            "noise": phantom.noise,
            "target_fractions": TARGET_FRACTIONS,
            "objects": counts,
        }
    }
    image = ImageSource(path=name, read=blocks.image, metadata=metadata, **common)
    labels = ImageSource(path=name.with_name(f"{name.name}-labels"), read=blocks.labels, **common)
    return image, labels


def _command(config: EmPhantomConfig) -> str:
    """The command that makes the same store: what the store names as its source."""
    return (
        f"medtk preprocess em-phantom --shape {' '.join(map(str, config.shape))} "
        f"--seed {config.seed} --voxel-nm {config.voxel_nm:g} --noise {config.noise:g}"
    )


def _describe(store: Path, classes: list[str], fractions: dict[str, float], command: str) -> None:
    """Name the classes in the store: the image's medtk metadata (``classes``, measured
    ``fractions``), and the label image's (medtk ``classes``, NGFF ``properties``); the
    source of both is the command, not a file."""
    import zarr

    source = {"path": command, "format": "em-phantom", "files": 0, "bytes": 0, "sha256": None}
    root = zarr.open_group(str(store), mode="r+")
    medtk = dict(root.attrs["medtk"])
    medtk["classes"] = classes
    medtk["source"] = source
    extra = dict(medtk.get("extra", {}))
    extra["phantom"] = {**extra.get("phantom", {}), "fractions": fractions}
    medtk["extra"] = extra
    root.attrs["medtk"] = medtk
    label = root["labels"][LABEL_NAME]
    label_medtk = dict(label.attrs.get("medtk", {}))
    label_medtk["classes"] = classes
    label_medtk["source"] = {"path": command, "format": "em-phantom"}
    label.attrs["medtk"] = label_medtk
    ome = dict(label.attrs["ome"])
    image_label = dict(ome["image-label"])
    image_label["properties"] = [
        {"label-value": value, "name": name} for value, name in enumerate(classes)
    ]
    ome["image-label"] = image_label
    label.attrs["ome"] = ome
