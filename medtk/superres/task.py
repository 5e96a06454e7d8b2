"""``medtk superres zssr`` and ``medtk evaluate superres``: zero-shot super-resolution
(Shocher, Cohen & Irani, CVPR 2018) of images and volumes, and its check against bicubic."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from medtk.errors import BadInputError
from medtk.superres.config import SuperresEvaluateOptions, ZssrOptions, ZssrTraining
from medtk.tasks import Task, TaskContext, TaskResult

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy as np
    import torch
    from rich.progress import Progress, TaskID

    from medtk.superres.volumes import InputImage
    from medtk.superres.volumes import Progress as VolumeProgress
    from medtk.superres.zssr import ZssrModel, ZssrSettings


class _Bars:
    """The strategies' progress phases as rich bars, one per phase."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.bar: TaskID | None = None

    def phase(self, description: str, total: int) -> None:
        self._finish()
        self.bar = self.progress.add_task(description, total=total, status="")

    def step(self, done: int, status: str = "") -> None:
        if self.bar is not None:
            self.progress.update(self.bar, completed=done, status=status)

    def blocks(self, description: str, total: int) -> Callable[[int], None]:
        self.phase(description, total)
        bar = self.bar
        assert bar is not None
        return lambda n: self.progress.update(bar, advance=n)

    def _finish(self) -> None:
        if self.bar is not None:
            total = self.progress.tasks[self.bar].total or 0
            self.progress.update(self.bar, completed=total)


def settings_from(config: ZssrTraining) -> ZssrSettings:
    """The ZSSR settings a command's options describe."""
    from medtk.superres.zssr import ZssrSettings

    if config.crop < 8:
        raise BadInputError(f"--crop {config.crop} is too small; use at least 8")
    return ZssrSettings(
        iterations=config.iterations,
        crop=config.crop,
        batch=config.batch,
        layers=config.layers,
        channels=config.channels,
        kernel=config.kernel,
        sigma=config.sigma,
        gradual=config.gradual,
        ensemble=config.ensemble,
        back_projection=config.back_projection,
        seed=config.seed,
    )


def _scale_pair(values: list[float]) -> tuple[float, float]:
    if not values:
        return (2.0, 2.0)
    return (values[0], values[0]) if len(values) == 1 else (values[0], values[1])


def _image_or_slice(image: InputImage, index: int | None) -> np.ndarray:
    """A 2D image ``(C, H, W)``: the image itself, or one xy slice of a volume."""
    if not image.is_volume:
        if index is not None:
            raise BadInputError(f"{str(image.path)!r} is a 2D image; --slice is for volumes")
        return image.data
    depth = image.data.shape[1]
    z = depth // 2 if index is None else index
    if not 0 <= z < depth:
        raise BadInputError(f"--slice {index} is outside the volume's {depth} slices")
    return image.data[:, z]


class ZssrTask(Task):
    """Zero-shot super-resolution (ZSSR): a CNN trained on the input image alone."""

    options: ClassVar = {"superres": ZssrOptions}

    def superres(self, config: ZssrOptions, ctx: TaskContext) -> TaskResult:
        """Super-resolve an image with ZSSR (Shocher, Cohen & Irani, CVPR 2018): a small
        CNN is trained at run time on downscaled copies of the input itself (no training
        data, no pretrained weights), then upscales the input; bicubic is its baseline.

        2D pictures (PNG, JPEG, TIFF, grey or colour) and 2D stores are upscaled in y and
        x. Volumes (TIFF stacks, 3D stores): --axes xy upscales every xy slice with one
        network trained on the volume's slices; --axes z upsamples along z toward
        isotropic voxels (default factor: z spacing / xy spacing), trained on xz and yz
        slices where the fine in-plane axis provides the examples. A store gives a store
        (metadata kept, spacing updated, label images resized by nearest neighbour); a
        file gives a PNG or TIFF, as the output's suffix says.
        """
        from medtk.atomic import check_new_output
        from medtk.engine.device import resolve_device
        from medtk.superres.kernels import scaled_shape
        from medtk.superres.volumes import (
            check_size,
            default_output,
            load_image,
            new_spacing,
            superres_2d,
            superres_xy,
            superres_z,
            write_output,
            z_factor,
        )
        from medtk.superres.zssr import torch_threads

        image = load_image(config.source)
        mode = config.axes if image.is_volume else "2d"
        if config.axes == "z" and not image.is_volume:
            raise BadInputError(f"{str(config.source)!r} is a 2D image; --axes z needs a volume")
        if mode == "z":
            if len(config.scale) > 1:
                raise BadInputError("--axes z takes one factor (along z) in --scale")
            factor = config.scale[0] if config.scale else z_factor(image)
            label_scale = [round(factor, 3)]
        else:
            pair = _scale_pair(config.scale)
            label_scale = list(pair)
        out = config.out or default_output(image, label_scale)
        to_store = image.kind == "store" or out.suffix.lower() == ".zarr"
        if not to_store and out.suffix.lower() not in (".png", ".tif", ".tiff"):
            raise BadInputError(f"output {str(out)!r}: name it .png, .tif or .tiff (or .zarr)")
        if image.is_volume and out.suffix.lower() == ".png" and not to_store:
            raise BadInputError(f"output {str(out)!r}: a volume cannot be a PNG; write .tif")
        check_new_output(out, overwrite=config.overwrite, directory=to_store)
        factors = [factor, 1.0, 1.0] if mode == "z" else [1.0, *pair][-image.data.ndim + 1 :]
        check_size(scaled_shape(image.data.shape, [1.0, *factors]))
        device = resolve_device(config.device)
        settings = settings_from(config)
        started = time.perf_counter()
        with torch_threads(config.threads or None), ctx.progress() as progress:
            bars = _Bars(progress)
            if mode == "z":
                result, model = superres_z(
                    image.data, factor, settings, device=device, progress=bars
                )
            elif mode == "xy":
                result, model = superres_xy(
                    image.data, pair, settings, device=device, progress=bars
                )
            else:
                result, model = superres_2d(
                    image.data, pair, settings, device=device, progress=bars
                )
            seconds = time.perf_counter() - started
            spatial = len(image.spacing)
            spacing = new_spacing(
                image.spacing, image.data.shape[-spatial:], result.shape[-spatial:]
            )
            record: dict[str, Any] = {
                "method": "ZSSR (Shocher, Cohen & Irani, CVPR 2018)",
                "axes": mode,
                "scale": [
                    round(b / a, 6)
                    for a, b in zip(
                        image.data.shape[-spatial:], result.shape[-spatial:], strict=True
                    )
                ],
                "input_shape": list(image.data.shape[-spatial:]),
                "output_shape": list(result.shape[-spatial:]),
                "spacing": list(spacing),
                "unit": image.unit,
                "kernel": config.kernel,
                "iterations": model.history.get("iterations", 0),
                "learning_rate_cuts": [list(c) for c in model.history.get("cuts", [])],
                "device": str(device),
                "seconds": round(seconds, 2),
            }
            write_output(
                image,
                result,
                out,
                spacing=spacing,
                record=record,
                overwrite=config.overwrite,
                on_blocks=bars.blocks,
            )
        ctx.log(
            f"ZSSR {mode}: {'×'.join(map(str, record['input_shape']))} → "
            f"{'×'.join(map(str, record['output_shape']))} in {seconds:.1f} s on {device}"
        )
        return TaskResult(path=out, record=record)


class SuperresTask(Task):
    """Check super-resolution on an image: ZSSR and bicubic against the original."""

    options: ClassVar = {"evaluate": SuperresEvaluateOptions}

    def evaluate(self, config: SuperresEvaluateOptions, ctx: TaskContext) -> TaskResult:
        """Measure ZSSR against bicubic interpolation on a high-resolution image: the
        image is downscaled with scikit-image's rescale (anti-aliased), restored by
        bicubic interpolation and by ZSSR, and both are compared with the original by
        PSNR and SSIM (data range: the original's max − min). Writes metrics.json and
        comparison.png (original / bicubic / ZSSR, a central crop) into the output folder
        and prints a table.
        """
        from medtk.atomic import check_new_output, written_aside
        from medtk.engine.device import resolve_device
        from medtk.superres.volumes import load_image
        from medtk.superres.zssr import torch_threads

        image = load_image(config.image)
        out = config.out or _evaluation_folder(config.image)
        check_new_output(out, overwrite=config.overwrite, directory=True)
        data = _image_or_slice(image, config.slice)
        if config.size:
            data = _central(data, config.size)
        pair = _scale_pair(config.scale)
        device = resolve_device(config.device)
        settings = settings_from(config)
        with torch_threads(config.threads or None), ctx.progress(transient=True) as progress:
            result = compare(data, pair, settings, device=device, progress=_Bars(progress))
        summary: dict[str, Any] = {
            "image": str(config.image),
            "shape": list(result.truth.shape[1:]),
            "channels": int(result.truth.shape[0]),
            "scale": list(pair),
            "degradation": "skimage.transform.rescale(anti_aliasing=True)",
            "data_range": result.data_range,
            **result.scores,
            "gain_db": result.gain_db,
            "seconds": round(result.seconds, 2),
            "iterations": result.model.history.get("iterations", 0),
            "device": str(device),
            "settings": config.model_dump(
                mode="json", exclude={"image", "out", "overwrite", "size", "slice"}
            ),
        }
        with written_aside(out, overwrite=config.overwrite, directory=True) as folder:
            import json

            (Path(folder) / "metrics.json").write_text(json.dumps(summary, indent=2) + "\n")
            _comparison(Path(folder) / "comparison.png", result)
        if not ctx.json:
            _print_table(summary)
        return TaskResult(path=Path(out), record=summary)


@dataclass
class Comparison:
    """ZSSR and bicubic against the original: images in [0, 1], ``(C, H, W)``, and scores."""

    truth: np.ndarray
    small: np.ndarray
    bicubic: np.ndarray
    restored: np.ndarray
    scores: dict[str, dict[str, float]]
    data_range: float
    seconds: float
    model: ZssrModel

    @property
    def gain_db(self) -> float:
        """ZSSR's PSNR over bicubic's, in dB."""
        return self.scores["zssr"]["psnr"] - self.scores["bicubic"]["psnr"]


def compare(
    image: np.ndarray,
    scale: tuple[float, float],
    settings: ZssrSettings,
    *,
    device: str | torch.device = "cpu",
    progress: VolumeProgress | None = None,
) -> Comparison:
    """Downscale ``image`` ``(C, H, W)`` with scikit-image's anti-aliased ``rescale``,
    restore it by bicubic interpolation and by ZSSR, and score both against it (PSNR
    and SSIM, the image scaled to [0, 1] by its own range). ``seconds`` times ZSSR."""
    import numpy as np
    from skimage.transform import rescale

    from medtk.superres.kernels import resize
    from medtk.superres.volumes import superres_2d
    from medtk.superres.zssr import normalise

    truth, _low, span = normalise(image)
    small = rescale(truth, (1 / scale[0], 1 / scale[1]), anti_aliasing=True, channel_axis=0)
    small = small.astype(np.float32)
    if min(small.shape[1:]) < 4:
        raise BadInputError(
            f"the image downscaled by {scale[0]:g} × {scale[1]:g} is only "
            f"{small.shape[1]} × {small.shape[2]} pixels; use a larger image or --size"
        )
    bicubic = np.clip(resize(small, truth.shape[1:], kernel="bicubic"), 0, 1)
    started = time.perf_counter()
    restored, model = superres_2d(
        small, scale, settings, device=device, progress=progress, shape=truth.shape[1:]
    )
    seconds = time.perf_counter() - started
    restored = np.clip(restored, 0, 1)
    return Comparison(
        truth=truth,
        small=small,
        bicubic=bicubic,
        restored=restored,
        scores={"bicubic": _scores(truth, bicubic), "zssr": _scores(truth, restored)},
        data_range=float(span),
        seconds=seconds,
        model=model,
    )


def _central(data: np.ndarray, size: int) -> np.ndarray:
    """The central ``size`` × ``size`` region (or less where the image is smaller)."""
    height, width = data.shape[-2:]
    h, w = min(size, height), min(size, width)
    top, left = (height - h) // 2, (width - w) // 2
    return data[..., top : top + h, left : left + w]


def _scores(truth: np.ndarray, estimate: np.ndarray) -> dict[str, float]:
    """PSNR and SSIM of ``estimate`` against ``truth`` (both ``(C, H, W)`` in [0, 1])."""
    from medtk.metrics import psnr, ssim

    channels = truth.shape[0] > 1
    reference = truth if channels else truth[0]
    guess = estimate if channels else estimate[0]
    return {
        "psnr": psnr(reference, guess, data_range=1.0),
        "ssim": ssim(reference, guess, data_range=1.0, channel_axis=0 if channels else None),
    }


def _comparison(path: Path, result: Comparison) -> None:
    """Original, bicubic and ZSSR side by side: a central crop, at the same grey scale."""
    from medtk.viz.images import image_grid

    side = max(16, min(result.truth.shape[1:]) // 2)
    crops = []
    for picture in (result.truth, result.bicubic, result.restored):
        crop = _central(picture, side)
        crops.append(crop if crop.shape[0] in (3, 4) else crop[0])
    image_grid(
        path,
        [crops],
        titles=(
            "original",
            f"bicubic {result.scores['bicubic']['psnr']:.2f} dB",
            f"ZSSR {result.scores['zssr']['psnr']:.2f} dB",
        ),
        scale="row",
        cell=3.0,
        overwrite=True,
    )


def _evaluation_folder(image: Path) -> Path:
    """``STEM.superres`` beside the image (``ct.zarr`` → ``ct.superres``)."""
    name = image.name
    for suffix in (".zarr", ".ome.tiff", ".ome.tif", ".tiff", ".tif", ".png", ".jpeg", ".jpg"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    return image.with_name(f"{name}.superres")


def _print_table(summary: dict[str, Any]) -> None:
    from rich.table import Table

    from medtk.consoles import unwrapped_console

    scale = " × ".join(f"{s:g}" for s in dict.fromkeys(summary["scale"]))
    table = Table(title=f"super-resolution ×{scale} of {summary['image']}", title_justify="left")
    for column in ("method", "PSNR (dB)", "SSIM"):
        table.add_column(column, justify="left" if column == "method" else "right")
    for name, label in (("bicubic", "bicubic"), ("zssr", "ZSSR")):
        table.add_row(label, f"{summary[name]['psnr']:.2f}", f"{summary[name]['ssim']:.4f}")
    table.caption = (
        f"ZSSR gain {summary['gain_db']:+.2f} dB; {summary['seconds']:.1f} s on {summary['device']}"
    )
    unwrapped_console(stderr=True, highlight=False, markup=False).print(table)
