"""HDF5 sample files in the image/annotation-pair layout of config-driven engines (DLAE).

One file holds the samples as root datasets named ``"0"``, ``"1"``, …, ``"n-1"``; each is
one 2D or 3D array, optionally with a trailing channel axis of 1-4 entries (``(H, W, 3)``,
``(D, H, W, 1)``). A second file with the same names holds the annotations and is read
the same way. All samples must share shape and dtype.

NGFF has no "sample" axis, so the file is presented as one array whose ``"t"`` axis
indexes the samples 0..n-1 (``t`` is *not* time here; ``metadata["layout"]`` says so):
``("t", "y", "x")``, ``("t", "z", "y", "x")``, or with the channel axis moved to NGFF's
place, ``("t", "c", "y", "x")`` / ``("t", "c", "z", "y", "x")``. A 3D sample whose last
axis has 1-4 entries is taken as 2D with channels. The files carry no physical size:
spacing is 1.0 and the unit is ``""``.

``read`` reads only the samples, channels and sub-regions asked for, through one h5py
file handle behind a lock.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

import numpy as np

from medtk.io.sniff import describe, input_error, input_errors, native_dtype, read_head
from medtk.io.source import ImageSource, Region, region_shape

SIGNATURE = b"\x89HDF\r\n\x1a\n"
#: Where the signature may sit: after a user block of 0, 512, 1024 or 2048 bytes.
SIGNATURE_OFFSETS = (0, 512, 1024, 2048)
MAX_CHANNELS = 4
LAYOUT = "image-annotation pairs"
SAMPLE_NAME = re.compile(r"0|[1-9][0-9]*")


def has_signature(path: Path) -> bool:
    """True when the HDF5 signature sits at one of the user-block offsets."""
    return any(read_head(path, len(SIGNATURE), at) == SIGNATURE for at in SIGNATURE_OFFSETS)


class Hdf5Reader:
    """HDF5 files of numbered samples, read as one array with the samples along ``t``."""

    def sniff(self, path: Path) -> bool:
        """True for a file carrying the HDF5 signature (at 0 or after a user block)."""
        try:
            return has_signature(Path(path))
        except Exception:  # sniffing must never raise
            return False

    def open(self, path: Path) -> ImageSource:
        """Check names, shapes and dtypes of every sample; read no pixel data.

        :param path: an HDF5 file whose root holds datasets ``"0"``..``"n-1"``.
        :raises BadInputError: one line naming the file and the problem.
        """
        import h5py

        path = Path(path)
        if not has_signature(path):
            raise input_error(path, "not an HDF5 file (no HDF5 signature)")
        try:
            handle = h5py.File(path, "r")
        except Exception as exc:
            raise input_error(path, f"unreadable HDF5 file ({describe(exc)})") from None
        with input_errors(path, "unreadable HDF5 file", cleanup=handle.close):
            return _source(path, handle, _samples(path, handle))


def _samples(path: Path, handle: Any) -> list[Any]:
    """The datasets ``"0"``..``"n-1"``, in order; anything else at the root is an error."""
    import h5py

    names = list(handle.keys())
    if not names:
        raise input_error(path, "holds no datasets (expected samples named '0', '1', …)")
    numbered = {int(n) for n in names if SAMPLE_NAME.fullmatch(n)}
    others = sorted(n for n in names if not SAMPLE_NAME.fullmatch(n))
    if others:
        raise input_error(
            path,
            f"has root entries {_listing(others)} besides numbered samples; medtk reads "
            "files whose root holds only datasets named '0', '1', …, 'n-1'",
        )
    count = max(numbered) + 1
    missing = [str(i) for i in range(count) if i not in numbered]
    if missing:
        raise input_error(
            path, f"samples must be named '0'..'{count - 1}', but {_listing(missing)} missing"
        )
    datasets = []
    for i in range(count):
        item = handle.get(str(i))
        if not isinstance(item, h5py.Dataset):
            what = "a group" if isinstance(item, h5py.Group) else "a broken link"
            raise input_error(path, f"'{i}' is {what}, not a dataset")
        datasets.append(item)
    return datasets


def _listing(names: list[str], limit: int = 8) -> str:
    """Quoted names for a message, shortened after ``limit``."""
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _sample_axes(path: Path, shape: tuple[int, ...]) -> tuple[tuple[str, ...], bool]:
    """Axes of one sample in NGFF order, and whether its last axis holds channels."""
    if len(shape) == 2:
        return ("y", "x"), False
    if len(shape) == 3 and 1 <= shape[-1] <= MAX_CHANNELS:
        return ("c", "y", "x"), True
    if len(shape) == 3:
        return ("z", "y", "x"), False
    if len(shape) == 4 and 1 <= shape[-1] <= MAX_CHANNELS:
        return ("c", "z", "y", "x"), True
    raise input_error(
        path,
        f"sample '0' has shape {shape}; medtk reads 2D or 3D samples with an optional "
        f"trailing channel axis of 1-{MAX_CHANNELS}",
    )


def _source(path: Path, handle: Any, datasets: list[Any]) -> ImageSource:
    """One array of all samples along ``t``; ``read`` touches only the samples asked for."""
    first = datasets[0]
    shape, dtype = tuple(first.shape), first.dtype
    for i, dataset in enumerate(datasets[1:], start=1):
        if tuple(dataset.shape) != shape:
            raise input_error(
                path, f"dataset '{i}' has shape {tuple(dataset.shape)} but '0' has {shape}"
            )
        if dataset.dtype != dtype:
            raise input_error(path, f"dataset '{i}' has dtype {dataset.dtype} but '0' has {dtype}")
    if dtype.kind not in "biuf" or dtype.fields is not None:
        raise input_error(path, f"samples have dtype {dtype}, not numbers")
    if any(n == 0 for n in shape):
        raise input_error(path, f"samples have an empty shape {shape}")
    sample_axes, channels_last = _sample_axes(path, shape)
    sample_shape = (shape[-1], *shape[:-1]) if channels_last else shape
    out_dtype = native_dtype(dtype)
    lock = threading.Lock()

    def read(region: Region) -> np.ndarray:
        out = np.empty(region_shape(region), dtype=out_dtype)
        inner = region[1:]
        # h5py selection in the file's own axis order (channels last)
        selection = (*inner[1:], inner[0]) if channels_last else inner
        for k, index in enumerate(range(region[0].start, region[0].stop)):
            try:
                with lock:
                    block = datasets[index][selection]
            except Exception as exc:
                raise input_error(
                    path, f"cannot read dataset '{index}' ({describe(exc)})"
                ) from None
            out[k] = np.moveaxis(block, -1, 0) if channels_last else block
        return out

    def close() -> None:
        with lock:
            handle.close()

    chunks = first.chunks
    tile = None
    if chunks is not None:
        tile = (1, chunks[-1], *chunks[:-1]) if channels_last else (1, *chunks)
    return ImageSource(
        path=path,
        format="hdf5",
        axes=("t", *sample_axes),
        shape=(len(datasets), *sample_shape),
        dtype=out_dtype,
        spacing=(1.0,) * len([a for a in sample_axes if a != "c"]),
        unit="",
        read=read,
        tile=tile,
        metadata={"samples": len(datasets), "layout": LAYOUT},
        close=close,
    )
