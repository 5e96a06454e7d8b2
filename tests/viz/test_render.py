"""``medtk render``: the pictures show the voxels where they are, in the colours promised.

Stores are small generated volumes written with medtk's own writer; the 3D renders run
with both engines (VTK off-screen where OpenGL can start here, numpy everywhere), and
the PNG's pixels are read back and checked: which colour, where, in what proportions.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import zarr
from matplotlib.colors import rgb_to_hsv
from png_helpers import bounding_box, largest_blob, png_size, read_png
from scipy import ndimage

from medtk import hookimpl
from medtk.errors import BadInputError
from medtk.io.ingest import IngestOptions, write_store
from medtk.io.source import array_source
from medtk.io.store import Store
from medtk.viz.render import backend, camera, framing, raycast, region
from medtk.viz.render.classes import (
    FALSE_NEGATIVE,
    FALSE_POSITIVE,
    TRUE_POSITIVE,
    ClassStyle,
    class_styles,
    hex_rgb,
)

RENDERERS = {
    name: f"medtk.viz.render.tasks:{cls}"
    for name, cls in [
        ("volume", "VolumeRenderer"),
        ("labels", "LabelsRenderer"),
        ("compare", "CompareRenderer"),
        ("slices", "SlicesRenderer"),
        ("mip", "MipRenderer"),
    ]
}

ENGINES = [
    "numpy",
    pytest.param(
        "vtk",
        marks=pytest.mark.skipif(
            not backend.vtk_available(),
            reason=f"VTK cannot render off-screen here: {backend.INSTALL_HINT}",
        ),
    ),
]


class RendererPlugin:
    """The renderers as medtk's built-in plugin registers them."""

    @hookimpl
    def register_renderers(self, register):
        for name, target in RENDERERS.items():
            register(name, target)


PLUGINS = [("render", RendererPlugin())]


def render(cli, *args: str):
    return cli("render", *map(str, args), plugins=PLUGINS)


def make_store(
    path: Path,
    image: np.ndarray,
    spacing=(1.0, 1.0, 1.0),
    labels: dict[str, np.ndarray] | None = None,
    min_size: int = 256,
) -> Path:
    """A store of ``image`` (z, y, x) with label images, written as ingest writes one."""

    def source(array, where):
        return array_source(array, path=where, axes=("z", "y", "x"), spacing=spacing, unit="")

    label_sources = {name: source(a, path / name) for name, a in (labels or {}).items()}
    options = IngestOptions(workers=1, min_size=min_size)
    return write_store(source(image, path), path, labels=label_sources, options=options).path


def ball(shape, centre, radius) -> np.ndarray:
    z, y, x = np.indices(shape)
    c = np.asarray(centre)
    return (z - c[0]) ** 2 + (y - c[1]) ** 2 + (x - c[2]) ** 2 <= radius**2


def hues(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hue (degrees) of every pixel, and the mask of coloured (saturated, not dark) ones."""
    hsv = rgb_to_hsv(pixels.astype(np.float64) / 255.0)
    return hsv[..., 0] * 360.0, (hsv[..., 1] > 0.35) & (hsv[..., 2] > 0.15)


def of_colour(pixels: np.ndarray, colour, tolerance: float = 14.0) -> np.ndarray:
    """Pixels whose hue is within ``tolerance`` degrees of ``colour``'s (any shade of it)."""
    rgb = np.asarray(hex_rgb(colour) if isinstance(colour, str) else colour)
    target = rgb_to_hsv(rgb)[0] * 360.0
    hue, coloured = hues(pixels)
    distance = np.abs((hue - target + 180.0) % 360.0 - 180.0)
    return coloured & (distance <= tolerance)


@pytest.fixture(scope="module")
def spheres(tmp_path_factory) -> tuple[Path, Path]:
    """A truth store (a ball of class 1) and a prediction: the same ball moved +6 in x."""
    folder = tmp_path_factory.mktemp("spheres")
    shape = (32, 40, 48)
    truth = ball(shape, (16, 20, 21), 9).astype(np.uint8)
    pred = ball(shape, (16, 20, 27), 9).astype(np.uint8)
    image = (truth * 100 + 20).astype(np.uint8)
    truth_path = make_store(folder / "truth.zarr", image, labels={"mask": truth})
    pred_path = make_store(folder / "pred.zarr", image, labels={"pred": pred})
    return pred_path, truth_path


# ---------------------------------------------------------------- compare


@pytest.mark.parametrize("engine", ENGINES)
def test_compare_puts_fp_where_the_prediction_moved_and_fn_behind(cli, tmp_path, spheres, engine):
    pred, truth = spheres
    out = tmp_path / "compare.png"
    done = render(
        cli, "compare", pred, "--truth", truth, "--class-id", 1, "-o", out,
        "--view", "z", "--no-legend", "--size", 320, 240, "--engine", engine, "--json",
    )  # fmt: skip
    assert done.code == 0, done.err
    record = json.loads(done.out)
    assert record["engine"] == engine
    assert record["tp"] > 0 and record["fp"] == record["fn"] > 0
    assert 0.3 < record["dice"] < 0.9
    assert png_size(out) == (320, 240)
    pixels = read_png(out)
    columns = {}
    for name, colour in (("tp", TRUE_POSITIVE), ("fp", FALSE_POSITIVE), ("fn", FALSE_NEGATIVE)):
        mask = of_colour(pixels, colour)
        assert mask.sum() > 150, f"{name} colour {colour} hardly shows ({mask.sum()} pixels)"
        columns[name] = np.nonzero(mask)[1].mean()
    # looking along z, x points right: the prediction moved right, so FP sits right of the
    # true positives and the missed truth (FN) left of them
    assert columns["fn"] < columns["tp"] < columns["fp"]
    assert columns["fp"] - columns["fn"] > 40


def test_compare_class_out_of_range_is_one_line(cli, tmp_path, spheres):
    pred, truth = spheres
    out = tmp_path / "c.png"
    for klass, words in ((5, "(classes: 1)"), (0, "class 0 is the background")):
        done = render(cli, "compare", pred, "--truth", truth, "--class-id", klass, "-o", out)
        assert done.code == 2
        assert len(done.err_lines) == 1 and words in done.err, done.err
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_compare_refuses_a_truth_of_another_shape(cli, tmp_path, spheres):
    pred, _ = spheres
    other = make_store(
        tmp_path / "other.zarr",
        np.zeros((8, 8, 8), np.uint8),
        labels={"m": np.ones((8, 8, 8), np.uint8)},
    )
    done = render(cli, "compare", pred, "--truth", other, "--class-id", 1, "-o", tmp_path / "c.png")
    assert done.code == 2
    assert "shape (8, 8, 8)" in done.err and len(done.err_lines) == 1


# ---------------------------------------------------------------- labels


@pytest.fixture(scope="module")
def two_classes(tmp_path_factory) -> Path:
    """A cube of class 1 left, a ball of class 2 right; class names in the NGFF metadata."""
    folder = tmp_path_factory.mktemp("classes")
    shape = (24, 32, 48)
    labels = np.zeros(shape, np.uint8)
    labels[6:18, 8:24, 4:18] = 1
    labels[ball(shape, (12, 16, 34), 7)] = 2
    path = make_store(
        folder / "two.zarr", (labels * 50).astype(np.uint8), labels={"organs": labels}
    )
    group = zarr.open_group(str(path / "labels" / "organs"), mode="r+")
    ome = dict(group.attrs["ome"])
    ome["image-label"] = {
        **ome["image-label"],
        "properties": [{"label-value": 1, "class": "liver"}, {"label-value": 2, "class": "tumour"}],
    }
    group.attrs["ome"] = ome
    return path


@pytest.mark.parametrize("engine", ENGINES)
def test_labels_png_shows_every_class_in_its_store_colour(cli, tmp_path, two_classes, engine):
    out = tmp_path / "labels.png"
    done = render(
        cli, "labels", two_classes, "-o", out, "--view", "z", "--size", 360, 240,
        "--engine", engine, "--no-legend", "--json",
    )  # fmt: skip
    assert done.code == 0, done.err
    record = json.loads(done.out)
    assert [(c["value"], c["name"]) for c in record["classes"]] == [(1, "liver"), (2, "tumour")]
    styles = class_styles(Store.open(two_classes).label("organs"), [1, 2])
    pixels = read_png(out)
    places = {}
    for style in styles:
        assert style.hex == next(
            c["colour"] for c in record["classes"] if c["value"] == style.value
        )
        mask = of_colour(pixels, style.rgb, tolerance=10)
        assert mask.sum() > 300, f"class {style.value} ({style.hex}) hardly shows"
        places[style.value] = largest_blob(mask)
    assert places[1][1] < places[2][1]  # the cube left of the ball, as in x


def test_labels_legend_names_the_classes_beside_the_render(cli, tmp_path, two_classes):
    out = tmp_path / "legend.png"
    done = render(cli, "labels", two_classes, "-o", out, "--engine", "numpy", "--size", 400, 240)
    assert done.code == 0, done.err
    pixels = read_png(out)
    styles = class_styles(Store.open(two_classes).label("organs"), [1, 2])
    for style in styles:  # the legend's swatch: the exact colour, right of the render
        exact = np.all(np.abs(pixels.astype(int) - np.round(np.array(style.rgb) * 255)) <= 2, -1)
        top, bottom, left, right = bounding_box(exact[:, 300:])
        assert right - left >= 10 and bottom - top >= 4


def test_labels_need_a_label_image(cli, tmp_path, two_classes):
    plain = make_store(tmp_path / "plain.zarr", np.zeros((8, 16, 16), np.int16))
    done = render(cli, "labels", plain, "-o", tmp_path / "x.png")
    assert done.code == 2 and "no label image" in done.err and len(done.err_lines) == 1
    done = render(cli, "labels", two_classes, "--label", "lungs", "-o", tmp_path / "x.png")
    assert done.code == 2 and "no label 'lungs' (labels: organs)" in done.err
    assert not (tmp_path / "x.png").exists()


# ---------------------------------------------------------------- mip and slices


def dark_panels(pixels: np.ndarray, count: int) -> list[tuple[int, int, int, int]]:
    """Bounding boxes of the ``count`` largest near-black regions, left to right."""
    dark = pixels.max(axis=-1) < 40
    labelled, found = ndimage.label(dark)
    sizes = ndimage.sum(dark, labelled, range(1, found + 1))
    biggest = np.argsort(sizes)[::-1][:count] + 1
    boxes = [bounding_box(labelled == k) for k in biggest]
    return sorted(boxes, key=lambda box: box[2])


def test_mip_shows_a_bright_blob_where_it_projects(cli, tmp_path):
    shape = (20, 40, 60)
    volume = np.zeros(shape, np.uint16)
    volume[3:6, 28:31, 8:11] = 1000  # centre (4, 29, 9)
    store = make_store(tmp_path / "blob.zarr", volume, spacing=(2.0, 1.0, 1.0))
    out = tmp_path / "mip.png"
    done = render(cli, "mip", store, "-o", out, "--size", 900, 400)
    assert done.code == 0, done.err
    pixels = read_png(out)
    bright = pixels.min(axis=-1) > 200
    expected = {  # panel: (row fraction, column fraction) of the blob's centre
        "xy": ((29 + 0.5) / 40, (9 + 0.5) / 60),
        "xz": (1 - (4 + 0.5) / 20, (9 + 0.5) / 60),  # z points up
        "yz": (1 - (4 + 0.5) / 20, (29 + 0.5) / 40),
    }
    for (top, bottom, left, right), (name, (row, col)) in zip(
        dark_panels(pixels, 3), expected.items(), strict=True
    ):
        inside = np.zeros_like(bright)
        inside[top : bottom + 1, left : right + 1] = bright[top : bottom + 1, left : right + 1]
        y, x, _ = largest_blob(inside)
        assert abs((y - top) / (bottom - top + 1) - row) < 0.04, name
        assert abs((x - left) / (right - left + 1) - col) < 0.04, name


def test_projection_reduces_past_the_stored_levels_by_maximum(tmp_path):
    volume = np.zeros((16, 64, 64), np.uint8)
    volume[9, 40, 21] = 255  # one voxel: a mean would dim it, a maximum keeps it
    store = Store.open(make_store(tmp_path / "dot.zarr", volume, min_size=64))
    assert len(store.levels) == 1
    roi = region.parse_roi(None, (16, 64, 64))
    sampling = region.plan_sampling(store, roi, max_voxels=16 * 16 * 16)
    assert sampling.level == 0 and sampling.voxels <= 16 * 16 * 16
    fz, fy, fx = sampling.factors
    assert fy > 1 and fx > 1
    xy = region.project(store, sampling, 0)
    assert xy.shape == sampling.shape[1:]
    assert xy.max() == 255 and np.unravel_index(xy.argmax(), xy.shape) == (40 // fy, 21 // fx)
    yz = region.project(store, sampling, 2)
    assert np.unravel_index(yz.argmax(), yz.shape) == (9 // fz, 40 // fy) and yz.max() == 255


def test_slices_keep_physical_proportions_and_blend_class_colours(cli, tmp_path, two_classes):
    shape = (16, 32, 48)
    grey = np.zeros(shape, np.uint8)
    labels = np.zeros(shape, np.uint8)
    labels[:, :, 30:] = 1
    store = make_store(tmp_path / "aniso.zarr", grey, spacing=(4.0, 1.0, 1.0), labels={"m": labels})
    out = tmp_path / "slices.png"
    done = render(cli, "slices", store, "-o", out, "--size", 1000, 420, "--window", 0, 255)
    assert done.code == 0, done.err
    pixels = read_png(out)
    colour = np.array(class_styles(Store.open(store).label("m"), [1])[0].rgb) * 255
    blended = 0.45 * colour  # over black grey values
    tinted = np.all(np.abs(pixels - blended) <= 3, axis=-1)
    dark = pixels.max(axis=-1) < 40
    boxes = dark_panels(np.where((tinted | dark)[..., None], 0, 255), 3)
    (t0, b0, l0, r0), (t1, b1, l1, r1), (t2, b2, l2, r2) = boxes

    def ratio(top, bottom, left, right):
        return (bottom - top + 1) / (right - left + 1)

    assert ratio(t0, b0, l0, r0) == pytest.approx(32 / 48, rel=0.05)  # xy: y over x
    assert ratio(t1, b1, l1, r1) == pytest.approx(64 / 48, rel=0.05)  # xz: 16 × 4 over 48
    assert ratio(t2, b2, l2, r2) == pytest.approx(64 / 32, rel=0.05)  # yz: 64 over 32
    # the labelled x ≥ 30 part of the xy panel is tinted, the rest is not
    row = (t0 + b0) // 2
    xs = np.nonzero(tinted[row, l0 : r0 + 1])[0]
    assert xs.min() / (r0 - l0 + 1) == pytest.approx(30 / 48, abs=0.03)


# ---------------------------------------------------------------- region and level


def test_level_chooser_reads_a_coarse_level_of_a_big_store(tmp_path):
    volume = np.zeros((64, 256, 256), np.uint8)
    store = Store.open(make_store(tmp_path / "big.zarr", volume, min_size=32))
    assert len(store.levels) == 4
    roi = region.parse_roi(None, (64, 256, 256))
    finest = region.plan_sampling(store, roi)
    assert finest.level == 0 and finest.shape == (64, 256, 256)
    coarse = region.plan_sampling(store, roi, max_voxels=40_000)
    assert coarse.level == 3 and coarse.factors == (8, 8, 8) and coarse.voxels <= 40_000
    assert coarse.spacing == (8.0, 8.0, 8.0)
    beyond = region.plan_sampling(store, roi, max_voxels=2_000)  # past the coarsest level
    assert beyond.level == 3 and beyond.voxels <= 2_000
    assert region.read(store, beyond).shape == beyond.shape
    part = region.plan_sampling(store, region.parse_roi("0:16,0:64,0:64", (64, 256, 256)))
    assert part.level == 0 and part.shape == (16, 64, 64)
    with pytest.raises(BadInputError, match="over --max-voxels"):
        region.plan_sampling(store, roi, max_voxels=40_000, level=1)
    with pytest.raises(BadInputError, match="levels 0 to 3"):
        region.plan_sampling(store, roi, level=4)


def test_cli_reads_the_level_that_fits_and_says_which(cli, tmp_path):
    volume = np.zeros((64, 256, 256), np.uint8)
    volume[20:40, 100:150, 100:150] = 200
    store = make_store(tmp_path / "big.zarr", volume, min_size=32)
    done = render(
        cli, "mip", store, "-o", tmp_path / "m.png", "--max-voxels", 40_000, "--json",
        "--roi", "0:64,64:192,:",
    )  # fmt: skip
    assert done.code == 0, done.err
    record = json.loads(done.out)
    assert record["level"] == 2 and record["shape"] == [16, 32, 64]


@pytest.mark.parametrize(
    ("roi", "words"),
    [
        ("0:5,0:5", "give three ranges"),
        ("0:5,a:3,0:4", "must hold whole numbers"),
        ("0:5,0:3,0-4", "is not START:STOP"),
        ("0:5,6:3,0:4", "is empty"),
        ("0:50,0:3,0:4", "leaves the volume"),
    ],
)
def test_bad_roi_is_one_line(roi, words):
    with pytest.raises(BadInputError, match=words) as error:
        region.parse_roi(roi, (20, 30, 40))
    assert "\n" not in str(error.value) and "--roi" in str(error.value)


def test_bad_roi_on_the_command_line_leaves_nothing(cli, tmp_path, two_classes):
    out = tmp_path / "s.png"
    done = render(cli, "slices", two_classes, "-o", out, "--roi", "0:5,0:5")
    assert done.code == 2 and len(done.err_lines) == 1 and "--roi" in done.err
    assert not out.exists()


def test_roi_reads_only_the_region(tmp_path):
    volume = np.arange(20 * 30 * 40, dtype=np.int32).reshape(20, 30, 40)
    store = Store.open(make_store(tmp_path / "r.zarr", volume))
    sampling = region.plan_sampling(store, region.parse_roi("2:5,:,10:", (20, 30, 40)))
    assert np.array_equal(region.read(store, sampling), volume[2:5, :, 10:])


# ---------------------------------------------------------------- cameras and engines


@pytest.mark.parametrize("view", ["oblique", "z", "y", "x"])
def test_numpy_engine_puts_a_voxel_where_the_framing_projects_it(view):
    shape, spacing = (24, 32, 40), (2.0, 1.0, 1.5)
    labels = np.zeros(shape, np.uint8)
    labels[tuple(slice(c - 1, c + 2) for c in (6, 20, 30))] = 1
    cam = camera.camera(view)
    size = (300, 200)
    style = ClassStyle(1, (1.0, 0.0, 0.0), "dot")
    image = raycast.surface_images(labels, spacing, [style], cameras=[cam], size=size)[0]
    y, x, _ = largest_blob(of_colour(image, style.rgb))
    row, column = framing.project((6, 20, 30), spacing, shape, cam, size)
    assert abs(y - row) < 6 and abs(x - column) < 6


def test_views_follow_the_slice_panels():
    z = camera.camera("z")
    assert z.right == pytest.approx((1, 0, 0)) and z.up == pytest.approx((0, -1, 0))
    y = camera.camera("y")
    assert y.right == pytest.approx((1, 0, 0)) and y.up == pytest.approx((0, 0, 1))
    x = camera.camera("x")
    assert x.right == pytest.approx((0, 1, 0)) and x.up == pytest.approx((0, 0, 1))
    turned = camera.camera("y", azimuth=90)  # the eye moves right, to the +x side
    assert turned.direction == pytest.approx((-1, 0, 0), abs=1e-9)


@pytest.mark.parametrize("engine", ENGINES)
def test_volume_render_shows_the_bright_part(cli, tmp_path, engine):
    volume = np.zeros((32, 32, 48), np.float32)
    volume[8:24, 8:24, 28:44] = 1.0  # a bright cube right of centre
    store = make_store(tmp_path / "v.zarr", volume)
    out = tmp_path / "v.png"
    done = render(
        cli, "volume", store, "-o", out, "--view", "z", "--window", 0, 1, "--opacity", 1,
        "--size", 240, 160, "--engine", engine, "--cmap", "gray",
    )  # fmt: skip
    assert done.code == 0, done.err
    pixels = read_png(out).astype(int)
    lit = pixels.mean(axis=-1) > 80
    lit[150:] = False  # the note at the bottom
    y, x, size = largest_blob(lit)
    row, column = framing.project(
        (16, 16, 36), (1.0, 1.0, 1.0), (32, 32, 48), camera.camera("z"), (240, 160)
    )
    assert abs(x - column) < 8 and abs(y - row) < 8 and size > 500


def test_unknown_colour_map_and_window_are_one_line(cli, tmp_path, two_classes):
    for args, words in (
        (("--cmap", "nope"), "not a matplotlib colour map"),
        (("--window", 5, 1), "LOW must be below HIGH"),
    ):
        done = render(
            cli, "volume", two_classes, "-o", tmp_path / "v.png", "--engine", "numpy", *args
        )
        assert done.code == 2 and words in done.err and len(done.err_lines) == 1, done.err


# ---------------------------------------------------------------- --html


def test_html_is_one_self_contained_page(cli, tmp_path, spheres):
    pred, truth = spheres
    out = tmp_path / "cmp.png"
    done = render(
        cli, "compare", pred, "--truth", truth, "--class-id", 1, "-o", out, "--html",
        "--frames", 4, "--engine", "numpy", "--size", 200, 150,
    )  # fmt: skip
    assert done.code == 0, done.err
    page = tmp_path / "cmp.html"
    assert done.out.split() == [str(out), str(page)]
    text = page.read_text(encoding="utf-8")
    assert "http://" not in text and "https://" not in text
    assert not re.search(r"""(src|href)\s*=\s*["'](?!data:)""", text)  # nothing to fetch
    data = json.loads(re.search(r'id="medtk-data">(.*?)</script>', text, re.S).group(1))
    assert len(data["frames"]) == 4 and all(
        f.startswith("data:image/png;base64,") for f in data["frames"]
    )
    assert data["shape"] == [32, 40, 48] and data["labels"] and data["grey"]
    assert [c["colour"] for c in data["classes"]] == [TRUE_POSITIVE, FALSE_POSITIVE, FALSE_NEGATIVE]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cmp.html", "cmp.png"]


def test_html_of_slices_carries_the_volume_and_refuses_to_overwrite(cli, tmp_path, two_classes):
    out = tmp_path / "s.png"
    assert render(cli, "slices", two_classes, "-o", out, "--html").code == 0
    text = (tmp_path / "s.html").read_text(encoding="utf-8")
    data = json.loads(re.search(r'id="medtk-data">(.*?)</script>', text, re.S).group(1))
    import base64
    import gzip

    labels = np.frombuffer(gzip.decompress(base64.b64decode(data["labels"])), np.uint8)
    assert labels.size == 24 * 32 * 48 and set(np.unique(labels)) == {0, 1, 2}
    assert [c["name"] for c in data["classes"]] == ["liver", "tumour"]
    (tmp_path / "s.png").unlink()
    again = render(cli, "slices", two_classes, "-o", out, "--html")
    assert again.code == 2 and "s.html" in again.err and not out.exists()


# ---------------------------------------------------------------- engines and label sources


def test_without_opengl_auto_draws_with_numpy_and_says_so(cli, tmp_path, two_classes, monkeypatch):
    monkeypatch.setattr(backend, "vtk_available", lambda: False)
    out = tmp_path / "l.png"
    done = render(cli, "labels", two_classes, "-o", out, "--size", 200, 150, "--json")
    assert done.code == 0, done.err
    assert json.loads(done.out)["engine"] == "numpy"
    assert "no OpenGL library can render here" in done.err and "libegl1" in done.err
    forced = render(cli, "labels", two_classes, "-o", tmp_path / "v.png", "--engine", "vtk")
    assert forced.code == 1 and "apt-get install" in forced.err and len(forced.err_lines) == 1
    assert not (tmp_path / "v.png").exists()


def test_a_prediction_store_is_its_own_label_image(cli, tmp_path, spheres):
    """``medtk predict --output labels`` writes the labels as the image itself."""
    _, truth = spheres
    labels = np.asarray(Store.open(truth).label("mask").array(0)[...])
    pred = make_store(tmp_path / "p.zarr", np.roll(labels, 3, axis=2))
    group = zarr.open_group(str(pred), mode="r+")
    group.attrs["medtk"] = {**group.attrs["medtk"], "prediction": {"output": "labels"}}
    done = render(
        cli, "compare", pred, "--truth", truth, "--class-id", 1, "-o", tmp_path / "c.png",
        "--engine", "numpy", "--size", 200, 150, "--json",
    )  # fmt: skip
    assert done.code == 0, done.err
    assert json.loads(done.out)["fp"] > 0
    several = make_store(tmp_path / "s.zarr", labels, labels={"a": labels, "b": labels})
    done = render(cli, "labels", several, "-o", tmp_path / "x.png")
    assert done.code == 2 and "label images a, b; choose one with --label" in done.err
