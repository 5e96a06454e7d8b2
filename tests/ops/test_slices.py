"""Slices of volumes, and the NAFLD rule dropping dark slices, against numpy loops."""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import pytest
from dask.callbacks import Callback

from medtk.errors import BadInputError
from medtk.ops.slices import axial_slices, drop_dark_slices, slice_along, slice_means


@pytest.fixture(scope="module")
def ct() -> tuple[np.ndarray, np.ndarray]:
    """A windowed (0–255) volume and a liver mask present on slices 3–8 only."""
    rng = np.random.default_rng(0)
    volume = rng.integers(0, 256, (12, 32, 32)).astype(np.uint8)
    liver = np.zeros(volume.shape, dtype=np.uint8)
    liver[3:9, 8:24, 6:26] = 1
    liver[3, 8:10, 6:10] = 1  # slice 3: just a sliver of liver
    liver[3, 10:, :] = 0
    return volume, liver


class CountComputes(Callback):
    """Counts how many separate dask computations run."""

    def __init__(self) -> None:
        super().__init__()
        self.runs = 0

    def _start(self, dsk) -> None:
        self.runs += 1


def test_slice_along_drops_only_that_axis(ct):
    volume, _ = ct
    lazy = da.from_array(volume, chunks=(4, 16, 16))
    piece = slice_along(lazy, ("z", "y", "x"), "z", 5)
    assert isinstance(piece, da.Array) and piece.shape == (32, 32)
    np.testing.assert_array_equal(piece.compute(), volume[5])
    np.testing.assert_array_equal(slice_along(volume, "zyx", "y", 7).compute(), volume[:, 7])
    four = np.stack([volume, 255 - volume])  # c, z, y, x
    np.testing.assert_array_equal(slice_along(four, "czyx", "z", 2).compute(), four[:, 2])


def test_axial_slices_by_step_and_by_index(ct):
    volume, _ = ct
    every_third = axial_slices(da.from_array(volume, chunks=4), ("z", "y", "x"), step=3)
    assert list(every_third) == [0, 3, 6, 9]
    np.testing.assert_array_equal(every_third[6].compute(), volume[6])
    chosen = axial_slices(volume, "zyx", indices=[8, 2])
    assert list(chosen) == [8, 2]
    rgb_like = np.stack([volume] * 3)
    assert axial_slices(rgb_like, "czyx", indices=[1])[1].shape == (3, 32, 32)


def test_dark_slices_match_a_numpy_loop(ct):
    volume, liver = ct
    masked = volume.astype(np.float64) * liver
    expected_means = np.array([masked[z].mean() for z in range(volume.shape[0])])
    got = slice_means(da.from_array(volume, chunks=(5, 16, 16)), "zyx", mask=liver)
    np.testing.assert_allclose(got, expected_means, rtol=1e-12)
    kept = drop_dark_slices(volume, "zyx", mask=da.from_array(liver, chunks=7))
    assert kept == [z for z in range(12) if expected_means[z] >= 5]
    assert kept == [4, 5, 6, 7, 8]  # slice 3 has too little liver, the rest none
    assert drop_dark_slices(volume, "zyx") == list(range(12))  # unmasked: all bright


def test_one_computation_for_all_slices(ct):
    volume, liver = ct
    with CountComputes() as counter, dask.config.set(scheduler="synchronous"):
        drop_dark_slices(da.from_array(volume, chunks=8), "zyx", mask=liver, threshold=5)
    assert counter.runs == 1


def test_channels_share_the_mask(ct):
    volume, liver = ct
    two = np.stack([volume, volume // 2])
    got = slice_means(two, ("c", "z", "y", "x"), mask=liver)
    expected = [(two[:, z].astype(float) * liver[z]).mean() for z in range(12)]
    np.testing.assert_allclose(got, expected)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda v: slice_along(v, "zyx", "z", 12), "outside the 12 slices"),
        (lambda v: slice_along(v, "cyx", "z", 0), "no 'z' axis"),
        (lambda v: axial_slices(v, "zy"), "do not fit"),
        (lambda v: axial_slices(v, "zyx", indices=[1], step=2), "not both"),
        (lambda v: slice_means(v, "zyx", mask=np.ones((12, 32))), "mask shape"),
    ],
)
def test_bad_arguments_are_bad_input(ct, call, message):
    with pytest.raises(BadInputError, match=message):
        call(ct[0])
