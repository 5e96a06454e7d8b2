"""The em family's data: classes of a label image, and training/validation patches.

The volume is split along z: the last ``--val-fraction`` is the validation slab (a fixed
grid of patches), the rest is where random training patches are drawn
(:mod:`medtk.engine.sampling`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from medtk.errors import BadInputError

if TYPE_CHECKING:
    from medtk.engine.sampling import GridPatches, PatchSource, RandomPatches
    from medtk_em.config import EmTrainOptions


@dataclass(frozen=True)
class ClassInfo:
    """The classes of a label image: values ``0 … count-1`` and their names."""

    count: int
    names: tuple[str, ...]

    def folder(self, value: int) -> str:
        """``class-NAME``: the run folder of a binary network."""
        return f"class-{re.sub(r'[^A-Za-z0-9_.-]+', '-', self.names[value]).strip('-') or value}"


def class_info(store: Path, labels: str, classes: int = 0) -> ClassInfo:
    """How many classes the label image ``labels`` of ``store`` holds, and their names.

    The count is ``classes`` when given, else the largest label value + 1 from the label
    metadata (or, where it records none, from the label image itself, chunk by chunk).
    Names come from the label metadata (see :func:`~medtk.engine.sampling.label_names`),
    else the values themselves.
    """
    from medtk.engine.sampling import label_names
    from medtk.io.store import Store

    image = Store.open(Path(store))
    label = image.label(labels)
    values = [int(v) for v in label.medtk.get("values", [])]
    if not values:
        values = [int(label.dask(0).max().compute())]
    largest = max(values)
    count = classes or largest + 1
    if largest >= count:
        raise BadInputError(
            f"label {labels!r} of {str(store)!r} holds value {largest}, more than --classes "
            f"{classes} allows (values 0–{count - 1})"
        )
    if count < 2:
        raise BadInputError(
            f"label {labels!r} of {str(store)!r} holds one class only; segmentation needs two"
        )
    names = label_names(label)
    return ClassInfo(count=count, names=tuple(names.get(v, str(v)) for v in range(count)))


@dataclass
class EmData:
    """One run's patches: the source, training and validation datasets, their geometry."""

    source: PatchSource
    train: RandomPatches
    val: GridPatches
    dims: int
    classes: ClassInfo


def em_data(config: EmTrainOptions) -> EmData:
    """The training patches (random, outside the validation slab) and the validation grid."""
    from medtk.engine.sampling import GridPatches, PatchSource, RandomPatches, holdout_slab

    info = class_info(config.store, config.labels, config.classes)
    source = PatchSource(
        config.store, config.labels, level=config.level, normalise=config.normalise
    )
    if source.ndim != 3:
        raise BadInputError(
            f"store {str(config.store)!r} is {source.ndim}D; em segments volumes (zyx)"
        )
    train_box, val_box = holdout_slab(source.shape, config.val_fraction, axis=0)
    train = RandomPatches(
        [source],
        config.patch,
        regions=[train_box],
        samples=config.samples_per_epoch,
        balanced=config.balanced,
        classes=list(range(info.count)),
        seed=config.seed,
    )
    val = GridPatches([source], config.patch, regions=[val_box], max_patches=config.val_patches)
    return EmData(source=source, train=train, val=val, dims=train.dims, classes=info)


def check_patch(config: EmTrainOptions) -> None:
    """The patch fits the U-Net: every size > 1 divisible by ``2 ** (depth - 1)``."""
    divisor = 2 ** (config.depth - 1)
    sizes = config.patch[1:] if config.patch[0] == 1 else config.patch
    if any(n < 1 for n in config.patch) or any(n % divisor for n in sizes):
        raise BadInputError(
            f"--patch {' '.join(map(str, config.patch))}: with --depth {config.depth} every "
            f"size must be a multiple of {divisor} (a z of 1 makes 2D patches)"
        )
