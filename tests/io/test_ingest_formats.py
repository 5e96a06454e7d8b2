"""Every input format through `medtk preprocess ingest`, from real and generated files.

Each case ingests one input, checks what `info --json` reports (axes, shape, spacing,
metadata) and that `ome-zarr`'s reader — what napari uses — opens the store.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

import medtk.builtin

CORE = [("core", medtk.builtin)]


@dataclass
class Case:
    make: Callable[[Path, Path], tuple[Path, Path | None]]
    axes: str
    shape: tuple[int, ...]
    scale: tuple[float, ...] | None = None
    meta: dict = field(default_factory=dict)
    needs_sample_data: bool = False


def shared(name: str) -> Callable[[Path, Path], tuple[Path, Path | None]]:
    return lambda data, tmp: (data / name, None)


def pydicom_ct(data: Path, tmp: Path) -> tuple[Path, None]:
    from pydicom.data import get_testdata_file

    return Path(get_testdata_file("CT_small.dcm")), None


def nibabel_file(name: str) -> Callable[[Path, Path], tuple[Path, None]]:
    def make(data: Path, tmp: Path) -> tuple[Path, None]:
        import nibabel

        return Path(nibabel.__file__).parent / "tests" / "data" / name, None

    return make


def ct_series(data: Path, tmp: Path) -> tuple[Path, Path]:
    from medtk.datasets import write_ct_series

    write_ct_series(tmp / "series", slices=10, size=96, mask_path=tmp / "liver.nii.gz")
    return tmp / "series", tmp / "liver.nii.gz"


def metaimage(data: Path, tmp: Path) -> tuple[Path, None]:
    import SimpleITK as sitk  # noqa: N813 (its documented alias)

    image = sitk.GetImageFromArray(np.arange(6 * 20 * 30, dtype=np.int16).reshape(6, 20, 30))
    image.SetSpacing((0.5, 0.6, 2.0))
    sitk.WriteImage(image, str(tmp / "volume.mha"))
    return tmp / "volume.mha", None


def ome_tiff(data: Path, tmp: Path) -> tuple[Path, None]:
    import tifffile

    stack = np.random.default_rng(0).integers(0, 4000, (2, 5, 40, 50), dtype=np.uint16)
    tifffile.imwrite(
        tmp / "cells.ome.tif",
        stack,
        ome=True,
        metadata={
            "axes": "CZYX",
            "PhysicalSizeX": 0.2,
            "PhysicalSizeY": 0.2,
            "PhysicalSizeZ": 1.0,
        },
    )
    return tmp / "cells.ome.tif", None


def png_folder(data: Path, tmp: Path) -> tuple[Path, None]:
    from PIL import Image

    folder = tmp / "slices"
    folder.mkdir()
    for i in range(1, 12):
        Image.fromarray(np.full((30, 40), i * 20, np.uint8)).save(folder / f"slice{i}.png")
    return folder, None


def hdf5_pair(data: Path, tmp: Path) -> tuple[Path, Path]:
    import h5py

    rng = np.random.default_rng(1)
    with h5py.File(tmp / "images.h5", "w") as images, h5py.File(tmp / "labels.h5", "w") as labels:
        for i in range(4):
            images[str(i)] = rng.integers(0, 255, (32, 48, 3), dtype=np.uint8)
            labels[str(i)] = (rng.random((32, 48, 1)) > 0.5).astype(np.uint8)
    return tmp / "images.h5", tmp / "labels.h5"


CASES = {
    "dicom-pydicom-ct": Case(pydicom_ct, "zyx", (1, 128, 128), meta={"modality": "CT"}),
    "dicom-series+mask": Case(ct_series, "zyx", (10, 96, 96), (2.5, 0.8, 0.8), {"modality": "CT"}),
    # NIfTI stores x, y, z(, t): (128, 96, 24, 2) with a time unit, 2 × 2 × 2.2 mm
    "nifti-nibabel-4d": Case(
        nibabel_file("example4d.nii.gz"), "tzyx", (2, 24, 96, 128), (1.0, 2.2, 2.0, 2.0)
    ),
    "nifti-nibabel-anatomical": Case(
        nibabel_file("anatomical.nii"), "zyx", (25, 41, 33), (2.0, 2.0, 2.0)
    ),
    "nrrd-real-ct": Case(
        shared("ct/lung2_image.nrrd"), "zyx", (61, 512, 512), None, {}, needs_sample_data=True
    ),
    "metaimage": Case(metaimage, "zyx", (6, 20, 30), (2.0, 0.6, 0.5)),
    "tiff-stack-real": Case(
        shared("microscopy/nuclei.tif"), "zyx", (60, 256, 256), needs_sample_data=True
    ),
    "tiff-float-tomogram": Case(
        shared("em/tomo.tif"), "zyx", (101, 135, 135), needs_sample_data=True
    ),
    "ome-tiff": Case(ome_tiff, "czyx", (2, 5, 40, 50), (1.0, 1.0, 0.2, 0.2)),
    "svs-openslide": Case(
        shared("histology/cmu_small_region.svs"),
        "cyx",
        (3, 2967, 2220),
        (1.0, 0.499, 0.499),
        {"magnification": 20, "modality": "WSI"},
        needs_sample_data=True,
    ),
    "png-file": Case(
        shared("histology/target_image.png"), "cyx", (3, 1000, 1000), needs_sample_data=True
    ),
    "png-folder": Case(png_folder, "zyx", (11, 30, 40)),
    "hdf5-pair": Case(hdf5_pair, "tcyx", (4, 3, 32, 48)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_format_ingests_and_ome_zarr_reads_it(cli, tmp_path, request, name):
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    case = CASES[name]
    data = request.getfixturevalue("sample_data") if case.needs_sample_data else tmp_path
    source, label = case.make(data, tmp_path)
    out = tmp_path / "out.zarr"
    args = ["preprocess", "ingest", str(source), "-o", str(out)]
    if label is not None:
        args += ["--label", str(label)]
    result = cli(*args, plugins=CORE)
    assert result.code == 0, result.err
    info = json.loads(cli("preprocess", "info", str(out), "--json", plugins=CORE).out)
    assert "".join(info["axes"]) == case.axes
    assert tuple(info["levels"][0]["shape"]) == case.shape
    if case.scale is not None:
        assert info["levels"][0]["scale"] == pytest.approx(list(case.scale))
    for key, value in case.meta.items():
        assert info["medtk"][key] == value
    assert len(info["medtk"]["source"]["sha256"]) == 64
    if label is not None:
        assert list(info["labels"]) == ["mask"]
    nodes = list(Reader(parse_url(str(out)))())
    assert tuple(nodes[0].data[0].shape) == case.shape


def test_real_ct_reports_hounsfield_range_and_spacing(cli, tmp_path, sample_data):
    out = tmp_path / "lung.zarr"
    result = cli(
        "preprocess",
        "ingest",
        str(sample_data / "ct" / "lung2_image.nrrd"),
        "--label",
        str(sample_data / "ct" / "lung2_label.nrrd"),
        "--modality",
        "CT",
        "-o",
        str(out),
        plugins=CORE,
    )
    assert result.code == 0, result.err
    tree = cli("preprocess", "info", str(out), plugins=CORE).out
    assert "HU range: min -1024" in tree
    info = json.loads(cli("preprocess", "info", str(out), "--json", plugins=CORE).out)
    scale = info["levels"][0]["scale"]
    assert scale == pytest.approx([5.0, 0.625, 0.625], abs=0.01)
    assert info["labels"]["mask"]["medtk"]["values"] == [0, 1]
