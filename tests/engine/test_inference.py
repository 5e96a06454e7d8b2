"""Tiled inference: equal to a whole-image pass away from seams, the same on every
scheduler and block size, bounded memory, blending weights, bad input, atomic output."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import zarr
from torch import nn

from medtk.engine.blending import GAUSSIAN_MIN, blending_weights
from medtk.engine.inference import InferenceOptions, TileGrid, TilingError, infer
from medtk.errors import BadInputError, Interrupted
from medtk.io.ingest import IngestOptions, write_store
from medtk.io.source import array_source
from medtk.io.store import Store

RNG_SEED = 4


def conv_net(cin: int, cout: int, dims: int, seed: int = 0) -> nn.Module:
    """Two 3×3 convolutions (padding 1): each output pixel sees 2 pixels around it."""
    torch.manual_seed(seed)
    conv = nn.Conv2d if dims == 2 else nn.Conv3d
    return nn.Sequential(conv(cin, 6, 3, padding=1), nn.Tanh(), conv(6, cout, 3, padding=1))


def pointwise_net(cin: int, cout: int, dims: int) -> nn.Module:
    torch.manual_seed(1)
    return (nn.Conv2d if dims == 2 else nn.Conv3d)(cin, cout, 1)


def whole_image(net: nn.Module, image: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return net.eval()(torch.from_numpy(image)[None].float())[0].numpy()


def make_store(path, image, axes, spacing=None):
    spatial = [a for a in axes if a != "c"]
    source = array_source(
        image, path=path, axes=axes, spacing=spacing or (1.0,) * len(spatial), unit=""
    )
    return write_store(source, path, options=IngestOptions(workers=1)).path


def zarr_array(path, image, chunks):
    array = zarr.create_array(str(path), shape=image.shape, chunks=chunks, dtype=image.dtype)
    array[...] = image
    return array


def seam_free(grid: TileGrid, reach: int) -> np.ndarray:
    """Pixels that every tile covering them sees at least ``reach`` pixels inside its
    border, or where that border is the image's own (where both passes pad alike)."""
    good = np.ones(grid.shape, dtype=bool)
    cover = np.zeros(grid.shape, dtype=int)
    for index in itertools.product(*(range(n) for n in grid.counts)):
        box = grid.tile_box(index)
        inside = np.ones(grid.shape, dtype=bool)
        trusted = np.ones(grid.shape, dtype=bool)
        for axis, (lo, hi) in enumerate(box):
            coords = np.arange(grid.shape[axis]).reshape(
                [-1 if a == axis else 1 for a in range(grid.ndim)]
            )
            inside &= (coords >= lo) & (coords < hi)
            far_lo = (coords - lo >= reach) | (lo == 0)
            far_hi = (hi - 1 - coords >= reach) | (hi == grid.shape[axis])
            trusted &= far_lo & far_hi
        cover += inside
        good &= ~inside | trusted
    assert cover.min() >= 1
    return good


def read(path, name="0"):
    return zarr.open_group(str(path), mode="r")[name][...]


# --------------------------------------------------------------------------------------
# equal to a whole-image forward pass


@pytest.mark.parametrize(
    ("axes", "shape", "tile", "overlap", "chunks"),
    [
        (("c", "y", "x"), (3, 90, 77), (32, 32), 0.25, (40, 32)),
        (("z", "y", "x"), (20, 45, 38), (12, 16, 16), 4, (8, 16, 20)),
    ],
    ids=["2d-store", "3d-store"],
)
def test_tiled_output_equals_a_whole_image_pass_away_from_tile_seams(
    tmp_path, rng, axes, shape, tile, overlap, chunks
):
    image = rng.normal(size=shape).astype(np.float32)
    store = make_store(tmp_path / "in.zarr", image, axes)
    dims = len(tile)
    net = conv_net(3 if "c" in axes else 1, 2, dims)
    result = infer(
        store,
        net,
        tmp_path / "out.zarr",
        tile=tile,
        overlap=overlap,
        chunks=chunks,
        group_pixels=2 * int(np.prod(tile)),  # several groups, each summed into blocks
    )
    assert result.groups > 1
    assert result.blocks > 1
    tiled = read(result.path)
    reference = whole_image(net, image if "c" in axes else image[None])
    assert tiled.shape == reference.shape
    good = seam_free(result.grid, reach=2)
    assert 0.3 < good.mean() < 1  # the seams are real, and most pixels are trusted
    np.testing.assert_allclose(tiled[:, good], reference[:, good], atol=1e-5, rtol=0)
    assert np.abs(tiled - reference).max() > 1e-3  # while at seams the tiles do differ


@pytest.mark.parametrize("blending", ["constant", "gaussian", "pyramidal"])
@pytest.mark.parametrize("dims", [2, 3])
def test_a_pointwise_model_gives_the_whole_image_pass_everywhere(tmp_path, rng, dims, blending):
    shape = (2, 70, 51) if dims == 2 else (2, 19, 30, 27)
    tile = (24, 24) if dims == 2 else (8, 12, 12)
    image = rng.normal(size=shape).astype(np.float32)
    net = pointwise_net(2, 3, dims)
    result = infer(image, net, tmp_path / "out.zarr", tile=tile, blending=blending)
    np.testing.assert_allclose(read(result.path), whole_image(net, image), atol=1e-5, rtol=0)


# --------------------------------------------------------------------------------------
# the same output on every scheduler and every block decomposition


def test_threads_distributed_and_block_sizes_give_bitwise_identical_output(tmp_path, rng):
    distributed = pytest.importorskip("distributed")
    image = rng.normal(size=(3, 100, 84)).astype(np.float32)
    source = zarr_array(tmp_path / "in.zarr", image, (3, 48, 48))
    net = conv_net(3, 4, 2)
    options = InferenceOptions(
        tile=(32, 32), overlap=0.3, output="both", batch_size=3, group_pixels=4000
    )

    def run(name, **kwargs):
        out = infer(source, net, tmp_path / name, options, **kwargs)
        return read(out.path), read(out.path, "labels/prediction/0")

    reference = run("threads.zarr", workers=2, chunks=(40, 40))
    assert reference[0].shape == (4, 100, 84)
    assert reference[1].dtype == np.uint8
    np.testing.assert_array_equal(reference[1], np.argmax(reference[0], axis=0))
    others = {
        "synchronous": run("sync.zarr", scheduler="synchronous", chunks=(40, 40)),
        "one thread, other blocks": run("blocks.zarr", workers=1, chunks=(17, 100)),
    }
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    ) as cluster:
        others["distributed address"] = run(
            "address.zarr", scheduler=cluster.scheduler_address, chunks=(40, 40)
        )
        with distributed.Client(cluster, set_as_default=False) as client:
            others["distributed client"] = run("client.zarr", scheduler=client, chunks=(64, 32))
    for name, (probabilities, labels) in others.items():
        np.testing.assert_array_equal(probabilities, reference[0], err_msg=name)
        np.testing.assert_array_equal(labels, reference[1], err_msg=name)


# --------------------------------------------------------------------------------------
# blending weights


@pytest.mark.parametrize("tile", [(32, 32), (9, 16, 12)])
def test_blending_weights_have_the_tile_shape_and_stay_positive(tile):
    for mode in ("constant", "gaussian", "pyramidal"):
        weights = blending_weights(tile, mode)
        assert weights.shape == tile
        assert weights.dtype == np.float32
        assert weights.min() > 0
        assert weights.max() <= 1
        for axis in range(len(tile)):  # symmetric about the centre along every axis
            np.testing.assert_allclose(weights, np.flip(weights, axis), rtol=1e-6)
    np.testing.assert_array_equal(blending_weights(tile, "constant"), np.ones(tile))


def test_gaussian_weights_peak_at_the_centre_with_sigma_an_eighth_of_the_tile():
    weights = blending_weights((33, 65), "gaussian")
    assert np.unravel_index(np.argmax(weights), weights.shape) == (16, 32)
    assert weights[16, 32] == pytest.approx(1.0)
    # one σ (= 65 / 8 pixels) from the centre along x: exp(-1/2)
    sigma = 65 / 8
    x = np.arange(65) - 32
    np.testing.assert_allclose(weights[16], np.maximum(np.exp(-(x**2) / (2 * sigma**2)), 1e-3),
                               rtol=1e-6)  # fmt: skip
    assert weights[0, 0] == pytest.approx(GAUSSIAN_MIN)  # corners clamped as MONAI does


def test_gaussian_weights_equal_monais_importance_map():
    utils = pytest.importorskip("monai.data.utils")
    for tile in ((32, 32), (12, 16, 20)):
        monai = utils.compute_importance_map(tile, mode="gaussian", sigma_scale=0.125).numpy()
        np.testing.assert_allclose(blending_weights(tile, "gaussian"), monai, rtol=1e-5)


def test_pyramidal_weights_ramp_linearly_from_the_borders_to_the_centre():
    weights = blending_weights((64, 64), "pyramidal")
    row = weights[32]  # through the centre
    assert np.all(np.diff(row[:32]) > 0)
    assert np.all(np.diff(row[32:]) < 0)
    assert weights.max() == pytest.approx(row[31], rel=1e-6)
    assert weights.max() > 0.95
    # near a border the weight grows linearly with the distance to it
    steps = np.diff(row[:6])
    np.testing.assert_allclose(steps, steps[0], rtol=0.1)
    # level lines are squares: equal along the border, lowest at the corners
    assert weights[0, 0] < weights[0, 32]
    assert weights[0, 32] == pytest.approx(weights[32, 0])


def test_unknown_blending_is_refused():
    with pytest.raises(ValueError, match="unknown blending 'cosine'"):
        blending_weights((8, 8), "cosine")


# --------------------------------------------------------------------------------------
# chunked output, bounded memory


class ReadSpy:
    """A numpy array that records the largest region any task read from it."""

    def __init__(self, array):
        self.array = array
        self.shape = array.shape
        self.dtype = array.dtype
        self.largest = 0

    def __getitem__(self, region):
        part = self.array[region]
        self.largest = max(self.largest, part.size)
        return part


def test_output_is_written_chunk_by_chunk_with_memory_bounded_per_task(tmp_path, rng):
    tile, chunks, budget = (16, 16, 16), (8, 24, 24), 24**3
    net = conv_net(1, 2, 3)
    held, reads = [], []
    for depth in (16, 64):  # the second volume is four times the first
        spy = ReadSpy(rng.normal(size=(depth, 48, 48)).astype(np.float32))
        result = infer(spy, net, tmp_path / f"v{depth}.zarr", tile=tile, overlap=4,
                       chunks=chunks, group_pixels=budget, batch_size=2)  # fmt: skip
        array = zarr.open_array(str(result.path / "0"), mode="r")
        assert array.chunks == (2, *chunks)
        written = sorted(p for p in (result.path / "0" / "c").rglob("*") if p.is_file())
        assert len(written) == result.blocks == (depth // 8) * 2 * 2
        held.append(result.max_task_elements)
        reads.append(spy.largest)
    # per task: the input of one group, its sums (twice, on the device and on the host),
    # one batch in and out; or one block's sums, weights and one group's part of it
    per_group = 1 * budget + 2 * 2 * budget + 2 * (1 + 2) * 16**3
    per_block = 3 * 2 * np.prod(chunks) + np.prod(chunks)
    assert held[0] == held[1] <= max(per_group, per_block)
    assert reads[0] == reads[1] <= budget
    assert held[1] < 64 * 48 * 48  # less than the volume itself


# --------------------------------------------------------------------------------------
# bad input


def test_an_image_smaller_than_the_tile_is_padded_and_cut_back(tmp_path, rng):
    image = rng.normal(size=(1, 20, 50)).astype(np.float32)
    net = pointwise_net(1, 2, 2)
    result = infer(image, net, tmp_path / "out.zarr", tile=(32, 32))
    assert result.grid.padded == (32, 50)
    assert read(result.path).shape == (2, 20, 50)
    np.testing.assert_allclose(read(result.path), whole_image(net, image), atol=1e-5, rtol=0)


def test_a_wrong_channel_count_is_a_clear_value_error(tmp_path, rng):
    image = rng.normal(size=(1, 40, 40)).astype(np.float32)
    with pytest.raises(ValueError, match=r"takes 3 input channels, but the image has 1 \(axes cyx"):
        infer(image, conv_net(3, 2, 2), tmp_path / "out.zarr", tile=(16, 16))
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"tile": (16, 16), "overlap": 16}, "less than the tile"),
        ({"tile": (16, 16), "overlap": 1.0}, r"fraction in \[0, 1\)"),
        ({"tile": (16, 16, 16, 16)}, "does not fit a tile of 4 axes"),
        ({"tile": 16}, r"may be \(c, y, x\) or \(z, y, x\)"),
        ({"tile": (16, 0)}, "one positive size"),
        ({"tile": (16, 16), "blending": "cosine"}, "unknown blending"),
        ({"tile": (16, 16), "output": "masks"}, "unknown output"),
        ({"tile": (16, 16), "scheduler": "processes"}, "use threads, synchronous"),
    ],
)
def test_bad_options_are_value_errors(tmp_path, rng, options, message):
    image = rng.normal(size=(1, 40, 40)).astype(np.float32)
    with pytest.raises(ValueError, match=message):
        infer(image, pointwise_net(1, 2, 2), tmp_path / "out.zarr", **options)


def test_a_model_that_changes_the_tile_size_is_refused(tmp_path, rng):
    image = rng.normal(size=(1, 40, 40)).astype(np.float32)
    with pytest.raises(TilingError, match="the same spatial size"):
        infer(image, nn.Conv2d(1, 2, 3, stride=2), tmp_path / "out.zarr", tile=(16, 16))


def test_an_existing_output_is_kept_unless_overwrite(tmp_path, rng):
    image = rng.normal(size=(1, 40, 40)).astype(np.float32)
    net = pointwise_net(1, 2, 2)
    out = infer(image, net, tmp_path / "out.zarr", tile=(16, 16)).path
    with pytest.raises(BadInputError, match="already exists"):
        infer(image, net, out, tile=(16, 16))
    infer(2 * image, net, out, tile=(16, 16), overwrite=True)
    np.testing.assert_allclose(read(out), whole_image(net, 2 * image), atol=1e-5)


# --------------------------------------------------------------------------------------
# atomic, resumable output


class Failing(nn.Module):
    """A pointwise model that raises ``error`` from its ``calls``-th forward pass on."""

    def __init__(self, calls, error):
        super().__init__()
        self.conv = pointwise_net(1, 2, 2)
        self.calls, self.error, self.seen = calls, error, 0

    def forward(self, x):
        self.seen += 1
        if self.seen >= self.calls:
            raise self.error
        return self.conv(x)


def test_a_failed_run_leaves_nothing_that_looks_complete(tmp_path, rng):
    image = rng.normal(size=(1, 64, 64)).astype(np.float32)
    model = Failing(calls=4, error=RuntimeError("out of memory"))
    with pytest.raises(RuntimeError, match="out of memory"):
        infer(image, model, tmp_path / "out.zarr", tile=(16, 16), batch_size=1, workers=1)
    assert not list(tmp_path.iterdir())


def test_an_interrupted_run_resumes_to_the_same_output(tmp_path, rng):
    image = rng.normal(size=(1, 64, 64)).astype(np.float32)
    options = InferenceOptions(tile=(16, 16), batch_size=2, workers=1, chunks=(16, 16),
                               group_pixels=32 * 32)  # fmt: skip
    model = Failing(calls=12, error=Interrupted("interrupted"))
    out = tmp_path / "out.zarr"
    with pytest.raises(Interrupted):
        infer(image, model, out, options)
    assert not out.exists()
    partial = tmp_path / ".out.zarr.partial"
    with pytest.raises(BadInputError, match="unfinished write"):
        Store.open(partial)
    model.calls = 10**9  # the same weights, now running to the end
    resumed = infer(image, model, out, options)
    assert resumed.resumed > 0
    assert not partial.exists()
    fresh = infer(image, model.conv, tmp_path / "fresh.zarr", options)
    np.testing.assert_array_equal(read(out), read(fresh.path))


# --------------------------------------------------------------------------------------
# the output store


def test_labels_store_and_metadata(tmp_path, rng):
    image = rng.normal(size=(12, 30, 30)).astype(np.float32)
    store = make_store(tmp_path / "ct.zarr", image, ("z", "y", "x"), spacing=(2.5, 0.5, 0.5))
    torch.manual_seed(0)
    net = nn.Conv3d(1, 1, 1)
    calls = []

    class Recorder:
        def start(self, description, total):
            calls.append(("start", description, total))

        def advance(self, n):
            calls.append(("advance", n))

    out = infer(store, net, tmp_path / "mask.zarr", tile=(8, 16, 16), output="labels",
                activation="sigmoid", progress=Recorder())  # fmt: skip
    labels = Store.open(out.path)
    assert labels.axes == ("z", "y", "x")
    assert labels.spacing == (2.5, 0.5, 0.5)
    expected = torch.sigmoid(torch.from_numpy(whole_image(net, image[None])))[0] >= 0.5
    np.testing.assert_array_equal(labels.array(0)[...], expected.numpy().astype(np.uint8))
    prediction = labels.medtk["prediction"]
    assert prediction["tile"] == [8, 16, 16]
    assert prediction["blending"] == "gaussian"
    assert labels.medtk["derived_from"]["store"] == str(store.resolve())
    assert calls[0] == ("start", "ct.zarr", out.groups + out.blocks)
    assert sum(c[1] for c in calls[1:]) == out.groups + out.blocks


# --------------------------------------------------------------------------------------
# against MONAI


@pytest.mark.parametrize("shape", [(3, 70, 90), (3, 20, 90)], ids=["larger", "shorter-than-tile"])
def test_equals_monais_sliding_window_inference_with_gaussian_blending(tmp_path, rng, shape):
    inferers = pytest.importorskip("monai.inferers")
    image = rng.normal(size=shape).astype(np.float32)
    net = conv_net(3, 2, 2).eval()
    ours = infer(image, net, tmp_path / "out.zarr", tile=(32, 32), overlap=0.25,
                 blending="gaussian", batch_size=4)  # fmt: skip
    with torch.no_grad():
        monai = inferers.sliding_window_inference(
            torch.from_numpy(image)[None], (32, 32), 4, net, overlap=0.25, mode="gaussian"
        )[0].numpy()
    # the same tile grid (border tiles moved inward, short axes padded evenly with zeros)
    # and the same weights: no border differences, only float rounding
    np.testing.assert_allclose(read(ours.path), monai, atol=1e-5, rtol=0)


# --------------------------------------------------------------------------------------
# GPU


@pytest.mark.gpu
def test_cuda_and_autocast_agree_with_the_cpu(tmp_path, rng):
    image = rng.normal(size=(3, 200, 180)).astype(np.float32)
    net = conv_net(3, 2, 2)
    options = InferenceOptions(tile=(64, 64), batch_size=8)
    cpu = read(infer(image, net, tmp_path / "cpu.zarr", options).path)
    cuda = read(infer(image, net, tmp_path / "cuda.zarr", options, device="cuda").path)
    half = read(infer(image, net, tmp_path / "f16.zarr", options, device="cuda",
                      precision="16").path)  # fmt: skip
    np.testing.assert_allclose(cuda, cpu, atol=1e-4)
    np.testing.assert_allclose(half, cpu, atol=2e-2)
