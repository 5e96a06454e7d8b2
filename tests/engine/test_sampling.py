"""Training patches from stores: windows equal to the stored arrays, regions respected,
class-balanced sampling from a coarse level, per-epoch seeding, validation grid,
augmentation that keeps image and labels aligned, normalisation, bad input."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from medtk.engine.sampling import (
    GridPatches,
    NormalisedInput,
    PatchAugment,
    PatchSource,
    RandomPatches,
    holdout_slab,
    intensity_affine,
)
from medtk.errors import BadInputError
from medtk.io.ingest import IngestOptions, write_store
from medtk.io.source import array_source
from medtk.io.store import Store
from medtk.nn.models.unet import UNet

RNG_SEED = 11


def write(path, image, labels=None, axes=("z", "y", "x")):
    spatial = tuple(a for a in axes if a != "c")
    source = array_source(image, path=path, axes=axes, spacing=(1.0,) * len(spatial), unit="")
    named = {}
    if labels is not None:
        named["classes"] = array_source(
            labels,
            path=path.with_name("labels"),
            axes=spatial,
            spacing=(1.0,) * len(spatial),
            unit="",
        )
    options = IngestOptions(workers=1, min_size=8, chunk_z=8, chunk_xy=16)
    return write_store(source, path, labels=named, options=options).path


@pytest.fixture(scope="module")
def volume(tmp_path_factory):
    """A 24 × 40 × 40 uint8 volume with labels 0–2; class 2 is rare (one small ball)."""
    rng = np.random.default_rng(RNG_SEED)
    shape = (24, 40, 40)
    labels = np.zeros(shape, np.uint8)
    zz, yy, xx = np.indices(shape)
    labels[(zz - 8) ** 2 + (yy - 12) ** 2 + (xx - 28) ** 2 <= 36] = 1
    labels[(zz - 12) ** 2 + (yy - 30) ** 2 + (xx - 10) ** 2 <= 4] = 2
    image = rng.integers(0, 256, shape, dtype=np.uint8)
    path = write(tmp_path_factory.mktemp("sampling") / "vol.zarr", image, labels)
    return path, image, labels


def box_slices(box):
    return tuple(slice(lo, hi) for lo, hi in box)


def test_patches_are_the_stored_windows_normalised_inside_the_region(volume):
    path, image, labels = volume
    source = PatchSource(path, "classes")
    train, _ = holdout_slab(source.shape, 0.25)
    assert train == ((0, 18), (0, 40), (0, 40))
    patches = RandomPatches([source], (8, 16, 16), regions=[train], samples=20, seed=3)
    rng = np.random.default_rng(0)
    for _ in range(30):
        index, box = patches.locate(rng)
        assert index == 0
        assert all(lo >= a and hi <= b for (lo, hi), (a, b) in zip(box, train, strict=True))
        read_image, read_labels = source.read(box)
        np.testing.assert_allclose(read_image[0], image[box_slices(box)] / 255.0, rtol=1e-6)
        np.testing.assert_array_equal(read_labels, labels[box_slices(box)])
    torch.manual_seed(0)
    x, y = patches[0]
    assert x.shape == (1, 8, 16, 16) and x.dtype == torch.float32
    assert y.shape == (8, 16, 16) and y.dtype == torch.int64
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0


def test_2d_patches_of_a_volume_come_back_squeezed(volume):
    path, _, labels = volume
    source = PatchSource(path, "classes")
    for patch in ((1, 16, 24), (16, 24)):
        patches = RandomPatches([source], patch, samples=4)
        assert patches.dims == 2
        x, y = patches[1]
        assert x.shape == (1, 16, 24) and y.shape == (16, 24)
    grid = GridPatches([source], (1, 16, 16), regions=[((20, 24), (0, 40), (0, 40))])
    assert len(grid) == 4 * 3 * 3
    x, y = grid[0]
    assert x.shape == (1, 16, 16)
    np.testing.assert_array_equal(y.numpy(), labels[20, :16, :16])


def test_epochs_draw_new_patches_and_a_seed_repeats_them(volume):
    path, _, _ = volume
    patches = RandomPatches([PatchSource(path, "classes")], (8, 16, 16), samples=6, seed=5)

    def epoch() -> list[torch.Tensor]:
        return [x for x, _ in DataLoader(patches, batch_size=3, shuffle=False)]

    torch.manual_seed(1)
    first, second = epoch(), epoch()
    torch.manual_seed(1)
    again = epoch()
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
    # a worker process gets a pickled copy: the zarr handles reopen, the patches are equal
    copy = pickle.loads(pickle.dumps(patches))
    torch.manual_seed(2)
    expected = patches[4][0]
    torch.manual_seed(2)
    assert torch.equal(copy[4][0], expected)


def test_balanced_sampling_finds_a_rare_class_from_a_coarse_level(volume):
    path, _, labels = volume
    source = PatchSource(path, "classes")
    rare = float((labels == 2).mean())
    assert rare < 0.002
    uniform = RandomPatches([source], (8, 8, 8), samples=1)
    # a budget below level 0's voxels: candidates come from a coarser level of the labels
    balanced = RandomPatches(
        [source], (8, 8, 8), samples=1, balanced=True, classes=[0, 1, 2], candidate_voxels=6000
    )
    assert np.all(balanced.factors[0] > 1)
    assert balanced.available == [0, 1, 2]

    def share_with_class_2(patches: RandomPatches) -> float:
        rng = np.random.default_rng(4)
        hits = 0
        for _ in range(300):
            _, box = patches.locate(rng)
            hits += bool((labels[box_slices(box)] == 2).any())
        return hits / 300

    assert share_with_class_2(balanced) > 0.25  # about a third: one class in three
    assert share_with_class_2(uniform) < 0.1


def test_validation_grid_covers_the_slab_and_is_fixed(volume):
    path, _, labels = volume
    source = PatchSource(path, "classes")
    _, held = holdout_slab(source.shape, 0.25)
    grid = GridPatches([source], (6, 16, 16), regions=[held])
    assert held == ((18, 24), (0, 40), (0, 40))
    covered = np.zeros(source.shape, bool)
    for _, box in grid.items:
        assert box[0] == (18, 24)
        covered[box_slices(box)] = True
    assert covered[18:].all() and not covered[:18].any()
    subset = GridPatches([source], (6, 16, 16), regions=[held], max_patches=4)
    assert (
        len(subset) == 4
        and subset.items == GridPatches([source], (6, 16, 16), regions=[held], max_patches=4).items
    )
    _, y = subset[3]
    np.testing.assert_array_equal(y.numpy(), labels[box_slices(subset.items[3][1])])


def test_augmentation_moves_image_and_labels_together():
    torch.manual_seed(0)
    labels = torch.randint(0, 4, (6, 8, 12, 12))
    image = labels.unsqueeze(1).float() * 10
    augment = PatchAugment(3, scale=0.0, shift=0.0, noise=0.0)
    changed = 0
    for _ in range(4):
        x, y = augment(image, labels)
        assert y.dtype == torch.int64
        torch.testing.assert_close(x[:, 0], y.float() * 10)
        changed += int(not torch.equal(y, labels))
    assert changed >= 3
    flat = PatchAugment(2, scale=0.2, shift=0.1, noise=0.05)
    x2, y2 = flat(image[:, :, 0], labels[:, 0])
    assert x2.shape == image[:, :, 0].shape and not torch.equal(x2, image[:, :, 0])
    assert sorted(torch.bincount(y2.flatten()).tolist()) == sorted(
        torch.bincount(labels[:, 0].flatten()).tolist()
    )
    with pytest.raises(ValueError, match="takes images"):
        augment(image[:, :, 0], labels)


def test_intensity_normalisation_from_dtype_and_store_statistics(tmp_path, rng):
    wide = rng.integers(1000, 3000, (16, 32, 32), dtype=np.uint16)
    store = Store.open(write(tmp_path / "wide.zarr", wide))
    scale, shift = intensity_affine(store, "auto")  # percentiles 0.5–99.5 → 0–1
    stats = store.medtk["stats"]["percentiles"]
    low, high = stats["0.5"][0], stats["99.5"][0]
    np.testing.assert_allclose(low * scale + shift, 0.0, atol=1e-5)
    np.testing.assert_allclose(high * scale + shift, 1.0, atol=1e-5)
    scale, shift = intensity_affine(store, "zscore")
    normalised = wide * scale[0] + shift[0]
    assert abs(normalised.mean()) < 0.01 and abs(normalised.std() - 1) < 0.01
    with pytest.raises(BadInputError, match="unknown normalisation"):
        intensity_affine(store, "max")
    # prediction wraps the network with the same affine; a 2D net runs on depth-1 tiles
    net = UNet(dims=2, classes=2, depth=2, width=4).eval()
    wrapped = NormalisedInput(net, scale, shift).eval()
    tile = torch.from_numpy(wide[:1, :16, :16].astype(np.float32))[None, None]
    with torch.no_grad():
        expected = net(tile[:, :, 0] * float(scale[0]) + float(shift[0]))
        torch.testing.assert_close(wrapped(tile)[:, :, 0], expected)


def test_bad_regions_and_patches_are_one_line_errors(volume):
    path, _, _ = volume
    source = PatchSource(path, "classes")
    _, held = holdout_slab(source.shape, 0.1)
    with pytest.raises(BadInputError, match="validation region is 2 voxels along z"):
        GridPatches([source], (8, 16, 16), regions=[held])
    with pytest.raises(BadInputError, match="give 3 positive sizes"):
        RandomPatches([source], (8, 16, 16, 2))
    with pytest.raises(BadInputError, match="no label 'mask'"):
        PatchSource(path, "mask")
    with pytest.raises(BadInputError, match="levels 0"):
        PatchSource(path, "classes", level=9)
