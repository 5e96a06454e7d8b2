"""ZSSR (`medtk superres zssr`, `medtk evaluate superres`): resizing kernels, the
self-ensemble symmetries, back-projection, learning on a real image, volumes and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import sample_file
from medtk.hookspecs import hookimpl
from medtk.metrics import psnr
from medtk.superres.kernels import KERNELS, bicubic, resize, resize_weights, scaled_shape
from medtk.superres.zssr import (
    ZssrSettings,
    allowed_transforms,
    back_project,
    dihedral,
    fit,
    gradual_scales,
    torch_threads,
    undihedral,
)


class SuperresPlugin:
    """Registers the two superres tasks as the core will."""

    @hookimpl
    def register_tasks(self, register):
        register("zssr", "medtk.superres.task:ZssrTask", description="ZSSR")
        register("superres", "medtk.superres.task:SuperresTask", description="ZSSR vs bicubic")


PLUGINS = [("superres", SuperresPlugin())]
#: Tiny, fast training for CLI plumbing tests (what is learnt is checked elsewhere).
QUICK = ("--iterations", "4", "--crop", "16", "--channels", "8", "--layers", "3", "--threads", "1")


def histology_crop(side: int = 64) -> np.ndarray:
    """A central ``side``² crop of the sample H&E image, channels first, uint8."""
    with Image.open(sample_file("histology", "target_image.png")) as picture:
        pixels = np.asarray(picture.convert("RGB"))
    top = (pixels.shape[0] - side) // 2
    return np.moveaxis(pixels[top : top + side, top : top + side], -1, 0).copy()


def pattern(side: int, channels: int = 3) -> np.ndarray:
    """A smooth synthetic uint8 picture ``(C, side, side)`` for tests of plumbing only."""
    y, x = np.mgrid[0:side, 0:side] / side
    planes = [np.sin(7 * x + 3 * c) * np.cos(5 * y - c) for c in range(channels)]
    return np.rint((np.stack(planes) + 1) * 127.5).astype(np.uint8)


# ---------------------------------------------------------------------------- kernels


@pytest.mark.parametrize("kernel", KERNELS)
def test_resize_weights_sum_to_one_for_any_size(kernel):
    for n_in, n_out in ((10, 25), (25, 10), (37, 15), (8, 8), (1, 3)):
        if kernel == "gaussian" and n_out > n_in:
            continue
        weights = resize_weights(n_in, n_out, kernel)
        assert weights.shape == (n_out, n_in)
        np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-12)


def test_resize_shapes_for_non_integer_and_per_axis_scales(rng):
    image = rng.random((3, 37, 41)).astype(np.float32)
    assert scaled_shape((37, 41), (2.5, 1.0)) == (92, 41)
    assert bicubic(image, (2.5, 1.0)).shape == (3, 92, 41)
    assert bicubic(image, (1.0, 1.5)).shape == (3, 37, 62)
    assert bicubic(image, (1.3, 3.7)).shape == (3, 48, 152)
    assert resize(image, (15, 100), kernel="lanczos3").shape == (3, 15, 100)
    down = resize(image, (15, 16), kernel="gaussian", sigma=(1.2, None))
    assert down.shape == (3, 15, 16)
    assert down.dtype == np.float32
    # only the axes named move; a flat image stays flat under every kernel
    volume = np.full((4, 9, 10), 7.0)
    assert resize(volume, (5, 12), axes=(0, 2)).shape == (5, 9, 12)
    for kernel in KERNELS:
        out = resize(volume, (3, 6), axes=(0, 2), kernel=kernel)
        assert out.shape == (3, 9, 6)
        np.testing.assert_allclose(out, 7.0)


def test_bicubic_matches_pillow_away_from_the_borders(rng):
    """Pillow's bicubic (a = −0.5, anti-aliased when shrinking) is the same kernel; only
    the border rule differs (medtk mirrors, Pillow renormalises)."""
    image = (rng.random((32, 32)) * 255).astype(np.float32)
    for shape in ((64, 64), (16, 16), (21, 13), (80, 45)):
        with Image.fromarray(image, mode="F") as picture:
            reference = np.asarray(picture.resize(shape[::-1], Image.Resampling.BICUBIC))
        ours = resize(image, shape)
        np.testing.assert_allclose(ours[6:-6, 6:-6], reference[6:-6, 6:-6], atol=1e-3)


def test_default_gaussian_kernel_models_scikit_image_rescale():
    """The gaussian kernel's default σ reproduces scikit-image's anti-aliased rescale, the
    degradation `medtk evaluate superres` uses."""
    from skimage.transform import rescale

    grey = histology_crop(128)[1].astype(np.float64) / 255
    for factor in (2, 3):
        reference = rescale(grey, 1 / factor, anti_aliasing=True)
        ours = resize(grey, reference.shape, kernel="gaussian")
        inner = (slice(4, -4), slice(4, -4))  # the border rules differ
        assert psnr(reference[inner], ours[inner], data_range=1) > 50


# ---------------------------------------------------------------------------- symmetries


def test_the_eight_symmetries_invert_exactly(rng):
    image = rng.random((2, 5, 7))
    seen = set()
    for k in range(8):
        turned = dihedral(image, k)
        np.testing.assert_array_equal(undihedral(turned, k), image)
        seen.add(turned.tobytes() + bytes(turned.shape))
        tensor = torch.from_numpy(image)
        assert torch.equal(undihedral(dihedral(tensor, k), k), tensor)
        np.testing.assert_array_equal(dihedral(tensor, k).numpy(), turned)
    assert len(seen) == 8  # all different: the full group of the square
    assert allowed_transforms((2.0, 2.0)) == tuple(range(8))
    for k in allowed_transforms((2.5, 1.0)):  # no quarter turns: the axes keep their roles
        assert dihedral(image, k).shape == image.shape


def test_gradual_stages():
    assert gradual_scales((2, 2), gradual=False) == [(2.0, 2.0)]
    assert gradual_scales((2, 2), gradual=True) == [(1.5, 1.5), (2.0, 2.0)]
    assert gradual_scales((4, 4), gradual=True)[-1] == (4.0, 4.0)
    assert gradual_scales((1, 2.5), gradual=True) == [(1.0, 1.5), (1.0, 2.0), (1.0, 2.5)]


# ---------------------------------------------------------------------------- back-projection


@pytest.mark.parametrize("kernel", ["bicubic", "gaussian"])
def test_back_projection_makes_the_output_consistent_with_the_input(rng, kernel):
    """After back-projection the output, downscaled with the kernel, is closer to the input."""
    truth = histology_crop(64).astype(np.float32) / 255
    small = resize(truth, (32, 32), kernel=kernel)
    guess = bicubic(small, (2, 2)) + rng.normal(0, 0.05, truth.shape).astype(np.float32)

    def inconsistency(output):
        return float(np.abs(resize(output, (32, 32), kernel=kernel) - small).mean())

    before = inconsistency(guess)
    once = inconsistency(back_project(guess, small, 1, kernel=kernel))
    thrice = inconsistency(back_project(guess, small, 3, kernel=kernel))
    assert once < 0.5 * before
    assert thrice < once


# ---------------------------------------------------------------------------- learning


def test_zssr_beats_bicubic_on_a_real_image():
    """A short, seeded ZSSR on an H&E crop restores it better than bicubic interpolation."""
    truth = histology_crop(96).astype(np.float32) / 255
    small = resize(truth, (48, 48), kernel="bicubic")
    settings = ZssrSettings(
        iterations=100, crop=32, batch=4, channels=32, layers=6, ensemble=False, seed=0
    )
    with torch_threads(1):  # one thread: reproducible, and quick on a busy machine too
        model = fit([small], [small], (2, 2), settings)
    restored = np.clip(model.upscale(small, shape=truth.shape[1:]), 0, 1)
    baseline = np.clip(bicubic(small, (2, 2)), 0, 1)
    gain = psnr(truth, restored, data_range=1) - psnr(truth, baseline, data_range=1)
    assert gain > 1.0, f"ZSSR gained only {gain:.2f} dB over bicubic"  # about 2 dB
    assert model.history["iterations"] == 100


def test_cli_defaults_are_the_library_defaults():
    from medtk.superres.config import SuperresEvaluateOptions, ZssrOptions
    from medtk.superres.task import settings_from

    assert settings_from(ZssrOptions(source="in.png")) == ZssrSettings()
    assert settings_from(SuperresEvaluateOptions(image="in.png")) == ZssrSettings()


def test_tiled_inference_equals_whole_image_inference(rng):
    from medtk.superres.zssr import _run_net

    settings = ZssrSettings(iterations=1, crop=16, channels=8, layers=4)
    image = rng.random((1, 40, 50)).astype(np.float32)
    with torch_threads(1):
        model = fit([image], [image], (2, 2), settings)
        for transforms in ((0,), tuple(range(8))):
            whole = _run_net(model, image, transforms, tile=512)
            tiled = _run_net(model, image, transforms, tile=16)
            np.testing.assert_allclose(tiled, whole, atol=1e-5)


# ---------------------------------------------------------------------------- CLI


def test_cli_upscales_a_png(cli, tmp_path):
    with Image.fromarray(np.moveaxis(pattern(32), 0, -1)) as picture:
        picture.save(tmp_path / "img.png")
    out = tmp_path / "out.png"
    result = cli("superres", "zssr", str(tmp_path / "img.png"), "-o", str(out), "--scale", "2",
                 *QUICK, plugins=PLUGINS)  # fmt: skip
    assert result.code == 0, result.err
    assert result.out.strip() == str(out)
    with Image.open(out) as picture:
        assert picture.size == (64, 64)
        assert picture.mode == "RGB"
    again = cli("superres", "zssr", str(tmp_path / "img.png"), "-o", str(out), *QUICK,
                plugins=PLUGINS)  # fmt: skip
    assert again.code == 2
    assert "already exists" in again.err


def test_cli_per_axis_scale_on_a_grey_tiff(cli, tmp_path):
    import tifffile

    grey = pattern(32, channels=1)[0].astype(np.uint16) * 200
    tifffile.imwrite(tmp_path / "grey.tif", grey)
    result = cli("superres", "zssr", str(tmp_path / "grey.tif"), "--scale", "1", "--scale",
                 "2.5", "--json", *QUICK, plugins=PLUGINS)  # fmt: skip
    assert result.code == 0, result.err
    record = json.loads(result.out)
    out = tmp_path / "grey.zssr1x2.5.tif"
    assert record["path"] == str(out)
    assert record["output_shape"] == [32, 80]
    written = tifffile.imread(out)
    assert written.shape == (32, 80)
    assert written.dtype == np.uint16


@pytest.mark.parametrize("scale", ["0.5", "0", "1", "40"])
def test_cli_refuses_a_bad_scale(cli, tmp_path, scale):
    with Image.fromarray(np.zeros((16, 16), np.uint8)) as picture:
        picture.save(tmp_path / "img.png")
    out = tmp_path / "out.png"
    result = cli("superres", "zssr", str(tmp_path / "img.png"), "-o", str(out), "--scale",
                 scale, plugins=PLUGINS)  # fmt: skip
    assert result.code == 2
    assert "--scale" in result.err
    assert len(result.err_lines) == 1
    assert not out.exists()


def test_outputs_too_large_for_memory_are_refused_up_front():
    from medtk.errors import BadInputError
    from medtk.superres.volumes import check_size

    check_size((3, 8192, 8192))
    with pytest.raises(BadInputError, match="crop the input or use a smaller --scale"):
        check_size((3, 40000, 40000))


def test_cli_refuses_what_it_cannot_read(cli, tmp_path):
    (tmp_path / "notes.txt").write_text("not an image")
    result = cli("superres", "zssr", str(tmp_path / "notes.txt"), plugins=PLUGINS)
    assert result.code == 2
    assert "not a PNG, JPEG or TIFF image or a medtk store" in result.err
    png = tmp_path / "fake.png"
    png.write_bytes(b"garbage")
    result = cli("superres", "zssr", str(png), plugins=PLUGINS)
    assert result.code == 2
    assert "fake.png" in result.err


def write_volume_store(path, volume, spacing, *, label=None):
    from medtk.io.ingest import write_store
    from medtk.io.source import array_source

    source = array_source(
        volume,
        path=path.with_suffix(".npy"),
        axes=("z", "y", "x"),
        spacing=spacing,
        unit="micrometer",
        metadata={"modality": "EM", "subject": "s1"},
    )
    labels = {}
    if label is not None:
        labels["mask"] = array_source(
            label, path=path, axes=("z", "y", "x"), spacing=spacing, unit="micrometer"
        )
    write_store(source, path, labels=labels)


def test_cli_makes_a_volume_isotropic_along_z(cli, tmp_path):
    from medtk.io.store import Store

    rng = np.random.default_rng(0)
    volume = (rng.random((6, 20, 24)) * 1000).astype(np.uint16)
    mask = (volume > 500).astype(np.uint8)
    write_volume_store(tmp_path / "vol.zarr", volume, (3.0, 1.5, 1.5), label=mask)
    result = cli("superres", "zssr", str(tmp_path / "vol.zarr"), "--axes", "z", "-o",
                 str(tmp_path / "iso.zarr"), *QUICK, plugins=PLUGINS)  # fmt: skip
    assert result.code == 0, result.err
    store = Store.open(tmp_path / "iso.zarr")
    assert store.levels[0].shape == (12, 20, 24)  # z factor from the spacing: 3 / 1.5
    assert store.spacing == pytest.approx((1.5, 1.5, 1.5))
    assert store.unit == "micrometer"
    assert store.levels[0].dtype == "uint16"
    assert store.medtk["modality"] == "EM"
    record = store.medtk.get("superres") or store.medtk["extra"]["superres"]
    assert record["axes"] == "z"
    assert record["scale"] == [2.0, 1.0, 1.0]
    assert store.medtk["derived_from"]["step"] == "medtk superres zssr"
    assert store.labels == ["mask"]
    resized = store.label("mask").array(0)[...]
    assert resized.shape == (12, 20, 24)
    np.testing.assert_array_equal(resized[::2], mask)  # nearest neighbour: each slice twice


def test_cli_upscales_every_xy_slice_of_a_tiff_stack(cli, tmp_path):
    import tifffile

    rng = np.random.default_rng(1)
    stack = (rng.random((3, 16, 20)) * 255).astype(np.uint8)
    tifffile.imwrite(tmp_path / "stack.tif", stack, photometric="minisblack")
    result = cli("superres", "zssr", str(tmp_path / "stack.tif"), "--axes", "xy", "--json",
                 *QUICK, plugins=PLUGINS)  # fmt: skip
    assert result.code == 0, result.err
    record = json.loads(result.out)
    assert record["axes"] == "xy"
    assert tifffile.imread(record["path"]).shape == (3, 32, 40)
    to_png = cli("superres", "zssr", str(tmp_path / "stack.tif"), "-o",
                 str(tmp_path / "stack.png"), *QUICK, plugins=PLUGINS)  # fmt: skip
    assert to_png.code == 2
    assert "a volume cannot be a PNG" in to_png.err


def test_evaluate_superres_writes_metrics_and_a_comparison(cli, tmp_path):
    with Image.fromarray(np.moveaxis(pattern(48), 0, -1)) as picture:
        picture.save(tmp_path / "hr.png")
    out = tmp_path / "eval"
    result = cli("evaluate", "superres", str(tmp_path / "hr.png"), "--scale", "2", "-o",
                 str(out), *QUICK, plugins=PLUGINS)  # fmt: skip
    assert result.code == 0, result.err
    assert result.out.strip() == str(out)
    assert "PSNR (dB)" in result.err
    metrics = json.loads((out / "metrics.json").read_text())
    for method in ("bicubic", "zssr"):
        assert 10 < metrics[method]["psnr"] < 60
        assert 0 < metrics[method]["ssim"] <= 1
    assert metrics["gain_db"] == pytest.approx(metrics["zssr"]["psnr"] - metrics["bicubic"]["psnr"])
    assert metrics["shape"] == [48, 48]
    with Image.open(out / "comparison.png") as picture:
        assert picture.format == "PNG"
