"""The frozen-feature cache: the frozen trunk's output per instance, computed once.

The trunk (``backbone.split``) never trains, so its output for an instance is the same in
every epoch, every fold, and every fusion and loss variant built on the same weights and
instance size. It is computed once, stored as float16 beside the bags
(``bags.zarr/features/<key>/<patient>/<modality>``, ``key`` = hash of the trunk's weights
and the size, and the modality), and read back by every later run. The group is written
aside and renamed, so a half-computed cache is never read.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

FEATURES_GROUP = "features"


def _forward(trunk: torch.nn.Module, images: np.ndarray, device: torch.device, batch: int):
    outputs = []
    with torch.inference_mode():
        for start in range(0, len(images), batch):
            x = torch.from_numpy(np.ascontiguousarray(images[start : start + batch])).to(device)
            outputs.append(trunk(x).to(torch.float16).cpu().numpy())
    return np.concatenate(outputs) if outputs else None


def trunk_features(
    trunk: torch.nn.Module, images: np.ndarray, device: torch.device, batch: int = 32
) -> np.ndarray:
    """The trunk's float16 output for ``images`` ``(n, c, s, s)`` uint8."""
    out = _forward(trunk, images, device, batch)
    if out is None:  # no instances: the output shape comes from one blank image
        probe = _forward(trunk, np.zeros((1, *images.shape[1:]), np.uint8), device, 1)
        return np.zeros((0, *probe.shape[1:]), np.float16)
    return out


def feature_cache(
    bags: Path,
    key: str,
    trunk: torch.nn.Module,
    items: Iterable[tuple[str, str, Any]],
    device: torch.device,
    *,
    progress: Any = None,
    total: int = 0,
) -> Path:
    """The cache folder of ``key`` in ``bags``, computing what is missing first.

    :param items: ``(patient, modality, read)`` with ``read()`` → the instances array.
    :param progress: a rich ``Progress`` for a bar over the items, or ``None``.
    """
    import zarr

    root = Path(bags) / FEATURES_GROUP
    final = root / key
    if final.is_dir():
        return final
    work = root / f".{key}.partial"
    shutil.rmtree(work, ignore_errors=True)
    group = zarr.open_group(str(work), mode="w")
    trunk = trunk.eval().to(device)
    task = progress.add_task("frozen features", total=total, status="") if progress else None
    for patient, modality, read in items:
        features = trunk_features(trunk, read(), device)
        chunks = (max(1, min(len(features), 64)), *features.shape[1:])
        array = group.require_group(patient).create_array(
            modality, shape=features.shape, dtype="float16", chunks=chunks
        )
        array[...] = features
        if task is not None:
            progress.update(task, advance=1)
    if task is not None:
        progress.remove_task(task)
    group.attrs["medtk"] = {"feature_cache": key}
    try:
        work.rename(final)
    except OSError:  # another run finished the same cache first: keep theirs
        shutil.rmtree(work, ignore_errors=True)
    return final


def read_features(cache: Path, patient: str, modality: str) -> np.ndarray:
    """One patient's cached features of one modality (float16)."""
    import zarr

    return zarr.open_array(str(cache / patient / modality), mode="r")[...]
