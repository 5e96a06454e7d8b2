"""Zero-shot super-resolution (ZSSR): a small CNN trained, at run time, on the input alone.

After Shocher, A., Cohen, N. and Irani, M. (2018). "Zero-shot" super-resolution using
deep internal learning. *CVPR*, 3118–3126. The method, as the paper describes it:

- **Internal examples.** The input image (and, optionally, slightly smaller copies of
  it) is the "HR father"; downscaling a father by the wanted factor with the assumed
  kernel gives its "LR son". A network trained to recover fathers from their sons learns
  the image's own cross-scale recurrence, and is then applied to the input itself to
  reach one scale further. Fathers are random crops under the eight rotations and flips
  of the square's symmetry group (the four flips only when the scale differs per axis,
  since a quarter turn would swap the axes' roles).
- **Network.** ``layers`` 3×3 convolutions of ``channels`` channels with ReLUs between
  (8 × 64 in the paper), learning the residual that is added to the son upscaled by
  bicubic interpolation to the father's size. L1 loss, Adam.
- **Learning-rate policy.** Starting at 10⁻³, the reconstruction error (here: the L1 on
  a fixed probe batch of training pairs) is taken every few iterations; when a linear fit
  of the recent errors no longer falls by more than their scatter about the line, the
  learning rate is divided by 10. Training stops at a minimum learning rate or at the
  iteration limit, whichever comes first.
- **Gradual scales** (optional). For a large factor, intermediate factors are reached
  first; each stage's output joins the pool of fathers of the next stage.
- **Test time.** The input is upscaled by bicubic interpolation and passed through the
  network under each symmetry; the outputs are turned back and combined by their
  median (the geometric self-ensemble), and iterative back-projection makes the result
  consistent with the input under the assumed downscaling.

This implementation makes sons from whole fathers and crops each (father, son) pair at
the same place, rather than cropping first: the same examples without the borders a crop
would add. Scales may be non-integer and differ per axis, e.g. ``(2.5, 1)`` to upsample
the first axis of a slice only.

Everything here works on float arrays shaped ``(C, H, W)``; callers scale intensities to
about [0, 1] (see :func:`normalise`). torch is imported inside the functions.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from medtk.errors import BadInputError
from medtk.superres.kernels import Kernel, resize, scaled_shape

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = [
    "ZssrModel",
    "ZssrSettings",
    "allowed_transforms",
    "back_project",
    "dihedral",
    "gradual_scales",
    "normalise",
    "torch_threads",
    "train",
    "undihedral",
    "upscale",
    "zssr",
]

#: ``on_step(done, total, status)``: called as training advances, for progress bars.
StepCallback = Callable[[int, int, str], None]


@dataclass(frozen=True)
class ZssrSettings:
    """How ZSSR trains and infers.

    The defaults fit a 256² image ×2 in well under a minute on two CPU cores
    (``benchmarks/bench_superres.py``). They are leaner than the paper's (3000+
    iterations on 128² crops, 64 channels): on the sample images 32 channels gave the
    same PSNR as 64 at a third of the time, and neither 600 iterations, 96² crops nor
    batches of 8 gained more than 0.1 dB over 300 iterations of four 64² crops.
    """

    #: Training iterations at most, over all gradual stages together.
    iterations: int = 300
    #: Side of the father crops, in pixels (the paper: 128).
    crop: int = 64
    #: Crops per iteration.
    batch: int = 4
    #: Convolutions in the network and channels of the hidden ones (the paper: 8 × 64).
    layers: int = 8
    channels: int = 32
    learning_rate: float = 1e-3
    #: Training stops once the learning rate falls below this.
    min_learning_rate: float = 1e-5
    #: Iterations between reconstruction-error probes.
    probe_every: int = 20
    #: Probes in the linear fit that decides a learning-rate cut.
    fit_window: int = 6
    #: Downscaling kernel that makes the sons and drives back-projection.
    kernel: Kernel = "bicubic"
    #: σ of the gaussian kernel in high-resolution pixels (default: from the scale).
    sigma: float | None = None
    #: Reach the scale through intermediate ones (:func:`gradual_scales`), each stage's
    #: output joining the fathers of the next.
    gradual: bool = False
    #: Median over the 8 (or 4) symmetries at test time.
    ensemble: bool = True
    #: Rounds of iterative back-projection of the output onto the input.
    back_projection: int = 2
    #: Smaller copies of the input added to the fathers (each 0.8 × the previous size).
    downscaled_copies: int = 2
    seed: int = 0


@dataclass
class ZssrModel:
    """A trained image-specific network and what it was trained for."""

    net: nn.Module
    scale: tuple[float, float]
    settings: ZssrSettings
    device: torch.device
    #: ``(iteration, learning rate)`` of every learning-rate cut, and the final state.
    history: dict[str, Any] = field(default_factory=dict)

    def upscale(
        self,
        image: np.ndarray,
        scale: Sequence[float] | None = None,
        *,
        shape: Sequence[int] | None = None,
    ) -> np.ndarray:
        """``image`` ``(C, H, W)`` super-resolved by ``scale`` (default: the trained one),
        to ``shape`` (default: the size times the scale, rounded)."""
        return upscale(self, image, self.scale if scale is None else scale, shape=shape)


# ---------------------------------------------------------------------------- symmetries


def allowed_transforms(scale: Sequence[float]) -> tuple[int, ...]:
    """Indices of the symmetries that keep the problem the same: all eight when the scale
    is the same along both axes, else the four that do not swap the axes."""
    return tuple(range(8)) if math.isclose(scale[0], scale[1]) else (0, 2, 4, 6)


def dihedral(array: Any, k: int) -> Any:
    """Symmetry ``k`` (0–7) of the last two axes: ``k % 4`` quarter turns, then a flip of
    the last axis when ``k ≥ 4``. Works on numpy arrays and torch tensors."""
    if not 0 <= k < 8:
        raise ValueError(f"symmetry index must be 0–7, got {k}")
    if _is_tensor(array):
        import torch

        out = torch.rot90(array, k % 4, dims=(-2, -1))
        return torch.flip(out, dims=(-1,)) if k >= 4 else out
    out = np.rot90(array, k % 4, axes=(-2, -1))
    return np.flip(out, axis=-1) if k >= 4 else out


def undihedral(array: Any, k: int) -> Any:
    """The inverse of :func:`dihedral` ``k``."""
    if not 0 <= k < 8:
        raise ValueError(f"symmetry index must be 0–7, got {k}")
    if _is_tensor(array):
        import torch

        out = torch.flip(array, dims=(-1,)) if k >= 4 else array
        return torch.rot90(out, -(k % 4), dims=(-2, -1))
    out = np.flip(array, axis=-1) if k >= 4 else array
    return np.rot90(out, -(k % 4), axes=(-2, -1))


def _is_tensor(array: Any) -> bool:
    return type(array).__module__.startswith("torch")


# ---------------------------------------------------------------------------- helpers


def normalise(array: np.ndarray) -> tuple[np.ndarray, float, float]:
    """``array`` as float32 scaled to [0, 1] by its own minimum and maximum, with them."""
    data = np.asarray(array, dtype=np.float32)
    low, high = float(np.min(data)), float(np.max(data))
    if not (math.isfinite(low) and math.isfinite(high)):
        raise BadInputError("the image holds NaN or infinite values")
    span = high - low if high > low else 1.0
    return (data - low) / span, low, span


def gradual_scales(scale: Sequence[float], gradual: bool) -> list[tuple[float, float]]:
    """The stages' scales: only ``scale``, or ``ceil(log s / log 1.5)`` stages (``s``: the
    larger factor) spaced evenly up to it (×2 → 1.5, 2; ×4 → 1.75, 2.5, 3.25, 4)."""
    target = (float(scale[0]), float(scale[1]))
    if not gradual or max(target) <= 1.5:
        return [target]
    stages = math.ceil(math.log(max(target)) / math.log(1.5))
    return [
        tuple(1 + (s - 1) * k / stages for s in target)  # type: ignore[misc]
        for k in range(1, stages + 1)
    ]


@contextmanager
def torch_threads(threads: int | None = None) -> Iterator[int]:
    """Let torch use ``threads`` CPU threads (default: the cores this process may use)
    inside the block, and restore the previous number after."""
    import torch

    if threads is None:
        try:
            threads = len(os.sched_getaffinity(0))
        except AttributeError:  # macOS and Windows
            threads = os.cpu_count() or 1
    previous = torch.get_num_threads()
    torch.set_num_threads(max(1, threads))
    try:
        yield max(1, threads)
    finally:
        torch.set_num_threads(previous)


def _check_image(image: np.ndarray, where: str = "image") -> np.ndarray:
    data = np.asarray(image)
    if data.ndim != 3:
        raise ValueError(f"{where} must be (C, H, W), got shape {data.shape}")
    if min(data.shape[1:]) < 4:
        raise BadInputError(
            f"{where} is {data.shape[1]} × {data.shape[2]} pixels; ZSSR needs at least 4 × 4"
        )
    return data.astype(np.float32, copy=False)


# ---------------------------------------------------------------------------- network


def build_net(in_channels: int, settings: ZssrSettings) -> nn.Module:
    """The paper's network: ``layers`` 3×3 convolutions, ReLUs between, predicting the
    residual to add to its input (the bicubic upscale)."""
    from torch import nn

    class ResidualCnn(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            widths = [in_channels] + [settings.channels] * (settings.layers - 1) + [in_channels]
            convs = []
            for i in range(settings.layers):
                convs.append(nn.Conv2d(widths[i], widths[i + 1], 3, padding=1))
                if i < settings.layers - 1:
                    convs.append(nn.ReLU(inplace=True))
            self.body = nn.Sequential(*convs)
            for module in self.body:
                if isinstance(module, nn.Conv2d):
                    nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                    nn.init.zeros_(module.bias)
            last = self.body[-1]
            assert isinstance(last, nn.Conv2d)
            nn.init.normal_(last.weight, std=1e-3)  # start near the bicubic upscale

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + self.body(x)

    if settings.layers < 2:
        raise BadInputError(f"the network needs at least 2 layers, got {settings.layers}")
    return ResidualCnn()


# ---------------------------------------------------------------------------- training


@dataclass
class _Pair:
    father: torch.Tensor  # (C, H, W)
    son: torch.Tensor  # the son upscaled back to the father's size


def _son(father: np.ndarray, scale: tuple[float, float], settings: ZssrSettings) -> np.ndarray:
    """The father downscaled by ``scale`` with the kernel, then upscaled back by bicubic."""
    small = scaled_shape(father.shape[1:], (1 / scale[0], 1 / scale[1]))
    sigma = _sigmas(settings, scale)
    down = resize(father, small, kernel=settings.kernel, sigma=sigma)
    return resize(down, father.shape[1:], kernel="bicubic")


def _sigmas(settings: ZssrSettings, scale: tuple[float, float]) -> tuple[float | None, ...]:
    """The gaussian kernel's σ per axis; an axis not scaled gets none."""
    if settings.sigma is None:
        return (None, None)
    return tuple(settings.sigma if s != 1 else None for s in scale)


def _pool(
    fathers: Sequence[np.ndarray],
    scale: tuple[float, float],
    settings: ZssrSettings,
    device: torch.device,
) -> list[_Pair]:
    import torch

    pairs = []
    for father in fathers:
        copies = [father]
        for k in range(1, settings.downscaled_copies + 1):
            shape = scaled_shape(father.shape[1:], (0.8**k, 0.8**k))
            if min(shape) < min(settings.crop, *father.shape[1:]) or min(shape) < 8:
                break
            copies.append(resize(father, shape, kernel="bicubic"))
        for copy in copies:
            son = _son(copy, scale, settings)
            pairs.append(
                _Pair(
                    father=torch.from_numpy(np.ascontiguousarray(copy)).to(device),
                    son=torch.from_numpy(np.ascontiguousarray(son)).to(device),
                )
            )
    return pairs


class _Sampler:
    """Random aligned crops of (father, son) pairs, under random symmetries."""

    def __init__(
        self,
        pairs: list[_Pair],
        crop: int,
        transforms: tuple[int, ...],
        rng: np.random.Generator,
    ) -> None:
        self.pairs = pairs
        sides = [p.father.shape[1:] for p in pairs]
        self.crop = (min(crop, *(s[0] for s in sides)), min(crop, *(s[1] for s in sides)))
        square = self.crop[0] == self.crop[1]
        self.transforms = transforms if square else tuple(t for t in transforms if t % 2 == 0)
        areas = np.array([s[0] * s[1] for s in sides], dtype=np.float64)
        self.weights = areas / areas.sum()
        self.rng = rng

    def batch(self, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        import torch

        fathers, sons = [], []
        h, w = self.crop
        for index in self.rng.choice(len(self.pairs), size=size, p=self.weights):
            pair = self.pairs[int(index)]
            top = int(self.rng.integers(0, pair.father.shape[1] - h + 1))
            left = int(self.rng.integers(0, pair.father.shape[2] - w + 1))
            k = int(self.rng.choice(self.transforms))
            fathers.append(dihedral(pair.father[:, top : top + h, left : left + w], k))
            sons.append(dihedral(pair.son[:, top : top + h, left : left + w], k))
        return torch.stack(sons), torch.stack(fathers)


def _declining(errors: Sequence[float]) -> bool:
    """Whether a line fitted to ``errors`` falls by more than their scatter about it."""
    y = np.asarray(errors, dtype=np.float64)
    x = np.arange(len(y), dtype=np.float64)
    slope, intercept = np.polyfit(x, y, 1)
    scatter = float(np.std(y - (slope * x + intercept)))
    fall = -slope * (len(y) - 1)
    return fall > scatter


class _Schedule:
    """Adam and the paper's learning-rate policy: probe the reconstruction error now and
    then; when a line fitted to the recent probes stops falling, divide the rate by 10."""

    def __init__(
        self, net: nn.Module, settings: ZssrSettings, probe: tuple[torch.Tensor, torch.Tensor]
    ) -> None:
        import torch

        self.net = net
        self.settings = settings
        self.inputs, self.targets = probe
        self.learning_rate = settings.learning_rate
        self.optimiser = torch.optim.Adam(net.parameters(), lr=self.learning_rate)
        self.errors: list[float] = []
        self.since_cut = 0

    def probe(self) -> bool:
        """Measure the probe's L1; return whether the learning rate was cut."""
        import torch

        with torch.no_grad():
            self.net.eval()
            error = torch.nn.functional.l1_loss(self.net(self.inputs), self.targets)
            self.net.train()
        self.errors.append(float(error.item()))
        self.since_cut += 1
        window = self.settings.fit_window
        if self.since_cut < window or _declining(self.errors[-window:]):
            return False
        self.learning_rate /= 10
        self.since_cut = 0
        for group in self.optimiser.param_groups:
            group["lr"] = self.learning_rate
        return True

    def status(self) -> str:
        """The last probe error and the learning rate, for a progress bar."""
        error = f"L1 {self.errors[-1]:.4f} " if self.errors else ""
        return f"{error}lr {self.learning_rate:.0e}"


def train(
    fathers: Sequence[np.ndarray],
    scale: Sequence[float],
    settings: ZssrSettings | None = None,
    *,
    device: str | torch.device = "cpu",
    iterations: int | None = None,
    model: ZssrModel | None = None,
    on_step: StepCallback | None = None,
    step_offset: int = 0,
    step_total: int | None = None,
) -> ZssrModel:
    """Train (or go on training ``model``) on the fathers ``(C, H, W)`` for ``scale``.

    :param fathers: the images the examples come from, all with the same channels.
    :param iterations: the limit for this call (default: ``settings.iterations``).
    :param step_offset, step_total: where this call sits in a longer progress bar.
    """
    import torch

    settings = settings or ZssrSettings()
    scale_pair = (float(scale[0]), float(scale[1]))
    if min(scale_pair) < 1 or max(scale_pair) <= 1:
        raise BadInputError(
            f"scale {scale_pair} must be at least 1 along each axis and above 1 along one"
        )
    images = [_check_image(f, "training image") for f in fathers]
    if not images:
        raise ValueError("no training images")
    channels = images[0].shape[0]
    if any(i.shape[0] != channels for i in images):
        raise ValueError("training images differ in channels")
    device = torch.device(device)
    limit = settings.iterations if iterations is None else iterations
    total = step_total if step_total is not None else limit
    seed = settings.seed + step_offset
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    if model is None:
        net = build_net(channels, settings).to(device)
        model = ZssrModel(net=net, scale=scale_pair, settings=settings, device=device)
    model.scale = scale_pair
    net = model.net
    net.train()
    sampler = _Sampler(
        _pool(images, scale_pair, settings, device),
        settings.crop,
        allowed_transforms(scale_pair),
        rng,
    )
    schedule = _Schedule(net, settings, sampler.batch(max(8, settings.batch)))
    cuts: list[tuple[int, float]] = model.history.setdefault("cuts", [])
    done = 0
    for step in range(1, limit + 1):
        inputs, targets = sampler.batch(settings.batch)
        loss = torch.nn.functional.l1_loss(net(inputs), targets)
        schedule.optimiser.zero_grad(set_to_none=True)
        loss.backward()
        schedule.optimiser.step()
        done = step
        if step % settings.probe_every == 0 and schedule.probe():
            cuts.append((step_offset + step, schedule.learning_rate))
        if on_step is not None:
            on_step(step_offset + step, total, schedule.status())
        if schedule.learning_rate < settings.min_learning_rate:
            break
    net.eval()
    model.history["iterations"] = model.history.get("iterations", 0) + done
    model.history["learning_rate"] = schedule.learning_rate
    model.history["probe_l1"] = schedule.errors[-1] if schedule.errors else None
    return model


# ---------------------------------------------------------------------------- inference


def _run_net(
    model: ZssrModel, image: np.ndarray, transforms: Sequence[int] = (0,), tile: int = 512
) -> np.ndarray:
    """The network applied to ``image`` ``(C, H, W)`` under each symmetry in
    ``transforms``, turned back, and combined by the median; tile by tile when large.

    Each tile carries a margin wider than the network's receptive radius, so the tiles
    put together equal the whole image passed at once, and memory stays bounded by the
    tile size whatever the image's.
    """
    import torch

    margin = model.settings.layers + 8
    _, height, width = image.shape
    out = np.empty(image.shape, dtype=np.float32)
    with torch.inference_mode():
        for top in range(0, height, tile):
            for left in range(0, width, tile):
                bottom, right = min(top + tile, height), min(left + tile, width)
                y0, x0 = max(0, top - margin), max(0, left - margin)
                y1, x1 = min(height, bottom + margin), min(width, right + margin)
                piece = torch.from_numpy(np.ascontiguousarray(image[:, y0:y1, x0:x1]))
                piece = piece[None].to(model.device)
                results = [
                    undihedral(model.net(dihedral(piece, k)), k)[0].float().cpu().numpy()
                    for k in transforms
                ]
                combined = results[0] if len(results) == 1 else np.median(results, axis=0)
                out[:, top:bottom, left:right] = combined[
                    :, top - y0 : bottom - y0, left - x0 : right - x0
                ]
    return out


def back_project(
    output: np.ndarray,
    image: np.ndarray,
    rounds: int,
    *,
    kernel: Kernel = "bicubic",
    sigma: float | None = None,
) -> np.ndarray:
    """Iterative back-projection (Irani & Peleg, 1991): ``rounds`` times, downscale the
    output with ``kernel`` to the input's size and add the bicubic upscale of what it
    misses, so that the output downscales to (nearly) the input."""
    small = image.shape[-2:]
    big = output.shape[-2:]
    scale = (big[0] / small[0], big[1] / small[1])
    sigmas: tuple[float | None, ...] = (
        (None, None) if sigma is None else tuple(sigma if s != 1 else None for s in scale)
    )
    result = np.asarray(output, dtype=np.float32)
    for _ in range(rounds):
        down = resize(result, small, kernel=kernel, sigma=sigmas)
        result = result + resize(image - down, big, kernel="bicubic")
    return result


def upscale(
    model: ZssrModel,
    image: np.ndarray,
    scale: Sequence[float],
    *,
    shape: Sequence[int] | None = None,
) -> np.ndarray:
    """``image`` ``(C, H, W)`` upscaled by ``scale`` with the trained network: bicubic,
    then the network under each symmetry (or once) turned back and combined by the
    median, then back-projection onto ``image``.

    :param shape: the output's ``(H, W)``; default: the input's times ``scale``, rounded.
    """
    settings = model.settings
    data = _check_image(image)
    scale_pair = (float(scale[0]), float(scale[1]))
    shape = scaled_shape(data.shape[1:], scale_pair) if shape is None else tuple(shape)
    start = resize(data, shape, kernel="bicubic")
    transforms = allowed_transforms(scale_pair) if settings.ensemble else (0,)
    combined = _run_net(model, start, transforms)
    combined = back_project(
        combined, data, settings.back_projection, kernel=settings.kernel, sigma=settings.sigma
    )
    return combined.astype(np.float32, copy=False)


def zssr(
    image: np.ndarray,
    scale: Sequence[float],
    settings: ZssrSettings | None = None,
    *,
    device: str | torch.device = "cpu",
    on_step: StepCallback | None = None,
) -> np.ndarray:
    """Super-resolve one image ``(C, H, W)`` (values about [0, 1]) by ``scale``: train on
    it (stage by stage when gradual) and upscale it. See :func:`fit`."""
    model = fit([image], [image], scale, settings, device=device, on_step=on_step)
    return model.upscale(image, scale)


def fit(
    fathers: Sequence[np.ndarray],
    inputs: Sequence[np.ndarray],
    scale: Sequence[float],
    settings: ZssrSettings | None = None,
    *,
    device: str | torch.device = "cpu",
    on_step: StepCallback | None = None,
) -> ZssrModel:
    """Train a network for ``scale`` on ``fathers``, through the gradual stages if asked.

    :param inputs: the images that will be upscaled; with gradual scales each stage
        upscales them and adds the results to the fathers of the next stage.
    """
    settings = settings or ZssrSettings()
    stages = gradual_scales(scale, settings.gradual)
    per_stage = max(1, settings.iterations // len(stages))
    total = per_stage * len(stages)
    pool = list(fathers)
    model: ZssrModel | None = None
    for index, stage in enumerate(stages):
        model = train(
            pool,
            stage,
            settings,
            device=device,
            iterations=per_stage,
            model=model,
            on_step=on_step,
            step_offset=index * per_stage,
            step_total=total,
        )
        if index < len(stages) - 1:
            # a stage's output joins the fathers; back-projection keeps it honest
            quick = replace(settings, ensemble=False)
            stage_model = replace(model, settings=quick)
            pool += [upscale(stage_model, image, stage) for image in inputs]
    if on_step is not None:
        on_step(total, total, "done")
    assert model is not None
    model.scale = (float(scale[0]), float(scale[1]))
    return model
