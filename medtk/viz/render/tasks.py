"""The renderers of ``medtk render``: volume, labels, compare, slices and mip.

Each is a task with one verb, ``render``. It checks its outputs and inputs first (bad
input is one line, exit 2, before anything is read), reads the region at a level that
fits ``--max-voxels`` (:mod:`medtk.viz.render.region`), draws, writes the PNG aside and
renames it into place, and with ``--html`` writes the interactive page beside it
(:mod:`medtk.viz.render.html`). stdout gets the PNG's path (and the page's); ``--json``
a record of what was read and drawn.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from medtk.errors import BadInputError
from medtk.tasks import Task, TaskContext, TaskResult
from medtk.viz.render import inputs
from medtk.viz.render.config import (
    CompareConfig,
    LabelsConfig,
    MipConfig,
    RenderConfig,
    SceneConfig,
    SlicesConfig,
    VolumeConfig,
)

if TYPE_CHECKING:
    from medtk.io.store import Store
    from medtk.viz.render.camera import Camera
    from medtk.viz.render.classes import ClassStyle
    from medtk.viz.render.region import Sampling


# ---------------------------------------------------------------- shared steps


def _check_outputs(config: RenderConfig) -> Path | None:
    """Refuse unusable outputs before any work; the ``--html`` page's path, if asked for."""
    from medtk.atomic import check_new_output
    from medtk.viz.checks import check_output
    from medtk.viz.render.html import html_path

    check_output("render", config.out, overwrite=config.overwrite)
    if not config.html:
        return None
    page = html_path(config.out)
    check_new_output(page, overwrite=config.overwrite)
    return page


def _sampling(store: Store, config: RenderConfig, shape: tuple[int, int, int]) -> Sampling:
    from medtk.viz.render.region import parse_roi, plan_sampling

    roi = parse_roi(config.roi, shape)
    return plan_sampling(store, roi, max_voxels=config.max_voxels, level=config.level)


def _viewer_sampling(store: Store, sampling: Sampling, config: RenderConfig) -> Sampling:
    """The (coarser) sampling of the ``--html`` viewer's volume."""
    from medtk.viz.render.html import VIEWER_MAX_VOXELS
    from medtk.viz.render.region import plan_sampling

    budget = min(VIEWER_MAX_VOXELS, config.max_voxels)
    if sampling.voxels <= budget:
        return sampling
    return plan_sampling(store, sampling.roi, max_voxels=budget)


def _grey_bytes(store: Store, sampling: Sampling, channel: int = 0) -> np.ndarray:
    """A store's intensities on ``sampling``, through their own 0.5–99.5 % window, as bytes."""
    from medtk.viz.render import html, region

    values = region.read(store, sampling, reduce="mean", channel=channel)
    return html.to_bytes(values, inputs.window(None, values, (0.5, 99.5)))


def _crop(labels: np.ndarray, margin: int = 2) -> np.ndarray:
    """``labels`` cut to the box of its labelled voxels and ``margin`` voxels around it,
    so a 3D picture frames the objects rather than the whole volume."""
    where = np.nonzero(labels)
    if not where[0].size:
        return labels
    box = tuple(
        slice(max(int(w.min()) - margin, 0), min(int(w.max()) + 1 + margin, n))
        for w, n in zip(where, labels.shape, strict=True)
    )
    return labels[box]


def _centre_of(labels: np.ndarray) -> tuple[int, int, int]:
    """The centre of the labelled voxels (of the volume, without any)."""
    where = np.argwhere(labels > 0)
    if where.size == 0:
        return labels.shape[0] // 2, labels.shape[1] // 2, labels.shape[2] // 2
    centre = where.mean(axis=0).round().astype(int)
    return int(centre[0]), int(centre[1]), int(centre[2])


def _to_sampled(point0: tuple[int, int, int], sampling: Sampling) -> tuple[int, int, int]:
    """A level-0 voxel's index on ``sampling``'s grid (clamped into it)."""
    p = [
        min(max(v // f - s, 0), n - 1)
        for v, f, s, n in zip(point0, sampling.factors, sampling.start, sampling.shape, strict=True)
    ]
    return p[0], p[1], p[2]


def _record(name: str, sampling: Sampling, started: float, **more: Any) -> dict[str, Any]:
    return {
        "renderer": name,
        "level": sampling.level,
        "factors": list(sampling.factors),
        "shape": list(sampling.shape),
        "spacing": list(sampling.spacing),
        **more,
        "seconds": round(time.perf_counter() - started, 3),
    }


def _result(config: RenderConfig, page: Path | None, record: dict[str, Any]) -> TaskResult:
    record["html"] = str(page) if page else None
    if page is not None:
        return TaskResult(path=config.out, paths=[config.out, page], record=record)
    return TaskResult(path=config.out, record=record)


# ---------------------------------------------------------------- 3D scenes


class _Scene:
    """A 3D renderer's engine, camera and turntable."""

    def __init__(self, config: SceneConfig, ctx: TaskContext) -> None:
        from medtk.viz.render import backend

        self.config = config
        self.ctx = ctx
        self.engine = backend.choose_engine(config.engine)
        if self.engine == "numpy" and config.engine == "auto":
            hint = backend.INSTALL_HINT.split(", or use")[0]
            ctx.log(
                "no OpenGL library can render here: drawing with numpy "
                f"(slower, plainer); for VTK, {hint}"
            )

    @property
    def module(self) -> Any:
        """The engine's module: ``volume_images`` and ``surface_images``."""
        if self.engine == "vtk":
            from medtk.viz.render import vtk_scene

            return vtk_scene
        from medtk.viz.render import raycast

        return raycast

    def camera(self) -> Camera:
        from medtk.viz.render.camera import camera

        return camera(self.config.view, self.config.azimuth, self.config.elevation)

    def turntable(self) -> tuple[list[Camera], tuple[int, int]]:
        """The turntable's cameras (a full turn of azimuth) and picture size."""
        from medtk.viz.render.camera import camera
        from medtk.viz.render.html import FRAME_WIDTH

        count, view = self.config.frames, self.config.view
        cameras = [
            camera(view, self.config.azimuth + 360.0 * k / count, self.config.elevation)
            for k in range(count)
        ]
        width, height = self.config.size
        if width > FRAME_WIDTH:
            width, height = FRAME_WIDTH, max(32, round(height * FRAME_WIDTH / width))
        return cameras, (width, height)

    def surfaces(
        self,
        labels: np.ndarray,
        spacing: tuple[float, float, float],
        styles: list[ClassStyle],
        size: tuple[int, int],
    ) -> np.ndarray:
        """One picture of the classes of ``labels`` as surfaces, framed on them."""
        self.ctx.log(f"drawing {len(styles)} surface(s) with {self.engine}")
        return self.module.surface_images(
            _crop(labels), spacing, styles, cameras=[self.camera()], size=size
        )[0]


@dataclass
class _SurfacePage:
    """What the ``--html`` page of a surface render shows."""

    title: str
    note: str
    unit: str
    sampling: Sampling
    labels: np.ndarray
    drawn: list[ClassStyle]
    legend: list[ClassStyle]
    grey: np.ndarray | None


def _write_surface_page(page: Path, scene: _Scene, content: _SurfacePage) -> None:
    from medtk.viz.render import html

    frames: list[np.ndarray] = []
    if scene.config.frames:
        cameras, size = scene.turntable()
        scene.ctx.log(f"rendering {len(cameras)} turntable pictures for {page.name}")
        frames = scene.module.surface_images(
            _crop(content.labels), content.sampling.spacing, content.drawn,
            cameras=cameras, size=size,
        )  # fmt: skip
    index, classes = html.compact_labels(content.labels, content.legend)
    html.write_html(
        page,
        title=content.title,
        note=content.note,
        spacing=content.sampling.spacing,
        unit=content.unit,
        grey=content.grey,
        labels=index,
        classes=classes,
        point=_centre_of(content.labels),
        frames=frames,
        overwrite=scene.config.overwrite,
    )


class VolumeRenderer(Task):
    """Volume rendering of an intensity volume (ray casting with an opacity ramp)."""

    options: ClassVar = {"render": VolumeConfig}

    def render(self, config: VolumeConfig, ctx: TaskContext) -> TaskResult:
        """Render an intensity volume in 3D: rays through the voxels, each value coloured
        along --cmap and made more opaque from LOW to HIGH of --window. The region is read
        at the finest pyramid level that fits --max-voxels. Writes OUT (PNG), and OUT.html
        with --html (a turntable and a slice viewer that open offline).
        """
        from medtk.viz.render import html, picture, region

        started = time.perf_counter()
        page = _check_outputs(config)
        store, shape = inputs.open_volume(config.store, "store")
        colours = inputs.colour_ramp(config.cmap)
        inputs.check_window(config.window)
        inputs.check_channel(store, config.channel)
        sampling = _sampling(store, config, shape)
        scene = _Scene(config, ctx)
        ctx.log(f"reading {inputs.note(store, sampling)}")
        volume = region.read(store, sampling, reduce="mean", channel=config.channel)
        window = inputs.window(config.window, volume, (50.0, 99.5))
        look = {"window": window, "colours": colours, "opacity": config.opacity}
        image = scene.module.volume_images(
            volume, sampling.spacing, cameras=[scene.camera()], size=config.size, **look
        )[0]
        note = inputs.note(store, sampling, f"window {window[0]:.4g} to {window[1]:.4g}")
        picture.write_picture(
            config.out, image, config.size, note=note, dark=True, overwrite=config.overwrite
        )
        if page is not None:
            small_sampling = _viewer_sampling(store, sampling, config)
            small = volume
            if small_sampling != sampling:
                small = region.read(store, small_sampling, reduce="mean", channel=config.channel)
            frames: list[np.ndarray] = []
            if config.frames:
                cameras, size = scene.turntable()
                ctx.log(f"rendering {len(cameras)} turntable pictures for {page.name}")
                frames = scene.module.volume_images(
                    small, small_sampling.spacing, cameras=cameras, size=size, **look
                )
            html.write_html(
                page,
                title=f"{inputs.display_name(store)}: volume rendering",
                note=note,
                spacing=small_sampling.spacing,
                unit=store.unit,
                grey=html.to_bytes(small, window),
                labels=None,
                classes=[],
                point=(small.shape[0] // 2, small.shape[1] // 2, small.shape[2] // 2),
                frames=frames,
                colours=colours,
                overwrite=config.overwrite,
            )
        record = _record("volume", sampling, started, engine=scene.engine, window=list(window))
        return _result(config, page, record)


class LabelsRenderer(Task):
    """A label volume as one surface per class, in the classes' colours."""

    options: ClassVar = {"render": LabelsConfig}

    def render(self, config: LabelsConfig, ctx: TaskContext) -> TaskResult:
        """Render a label image in 3D: one smoothed surface per class, in the colours the
        store gives its classes (those napari shows), framed on the labelled voxels, with a
        legend of the class names where the label metadata has them. Writes OUT (PNG), and
        OUT.html with --html (a turntable and a slice viewer that open offline).
        """
        from medtk.viz.render import picture, region
        from medtk.viz.render.classes import class_styles

        started = time.perf_counter()
        page = _check_outputs(config)
        store, _ = inputs.open_volume(config.store, "store")
        labels_store = inputs.pick_label(store, config.label, "--label", required=True)
        assert labels_store is not None
        _, shape = inputs.open_volume(labels_store.path, "label image")
        if labels_store is not store:
            inputs.same_grid(store, labels_store, "label image")
        sampling = _sampling(labels_store, config, shape)
        scene = _Scene(config, ctx)
        ctx.log(f"reading {inputs.note(labels_store, sampling)}")
        labels = region.read(labels_store, sampling, reduce="nearest")
        styles = class_styles(labels_store, np.unique(labels))
        if not styles:
            raise BadInputError(
                f"label image {str(labels_store.path)!r} has no labelled voxel in the region"
            )
        shown = styles if config.legend else []
        size = picture.render_size(config.size, shown, dark=False)
        image = scene.surfaces(labels, sampling.spacing, styles, size)
        note = inputs.note(labels_store, sampling)
        picture.write_picture(
            config.out, image, config.size, styles=shown, note=note, overwrite=config.overwrite
        )
        if page is not None:
            small_sampling = _viewer_sampling(labels_store, sampling, config)
            small = labels
            if small_sampling != sampling:
                small = region.read(labels_store, small_sampling, reduce="nearest")
            grey = None if labels_store is store else _grey_bytes(store, small_sampling)
            content = _SurfacePage(
                title=f"{inputs.display_name(labels_store)}: labels",
                note=note,
                unit=store.unit,
                sampling=small_sampling,
                labels=small,
                drawn=styles,
                legend=styles,
                grey=grey,
            )
            _write_surface_page(page, scene, content)
        classes = [{"value": s.value, "name": s.name, "colour": s.hex} for s in styles]
        record = _record("labels", sampling, started, engine=scene.engine, classes=classes)
        return _result(config, page, record)


def _outcome(predicted: np.ndarray, true: np.ndarray) -> np.ndarray:
    """1 where both, 2 where only predicted, 3 where only true, 0 elsewhere."""
    outcome = np.zeros(predicted.shape, dtype=np.uint8)
    outcome[predicted & true] = 1
    outcome[predicted & ~true] = 2
    outcome[~predicted & true] = 3
    return outcome


@dataclass
class _Pair:
    """The two label images compared, with the stores they belong to."""

    pred_store: Store
    pred: Store
    truth_store: Store
    truth: Store

    def backdrop(self) -> Store | None:
        """The intensity image under the labels: the truth's, else the prediction's."""
        if self.truth is not self.truth_store:
            return self.truth_store
        return self.pred_store if self.pred is not self.pred_store else None


def _open_pair(config: CompareConfig) -> tuple[_Pair, tuple[int, int, int]]:
    pred_store, _ = inputs.open_volume(config.pred, "prediction store")
    truth_store, _ = inputs.open_volume(config.truth, "truth store")
    pred = inputs.pick_label(pred_store, config.label, "--label", required=True)
    truth = inputs.pick_label(truth_store, config.truth_label, "--truth-label", required=True)
    assert pred is not None
    assert truth is not None
    _, shape = inputs.open_volume(pred.path, "prediction")
    inputs.same_grid(pred, truth, "truth")
    return _Pair(pred_store, pred, truth_store, truth), shape


class CompareRenderer(Task):
    """Prediction against ground truth for one class: TP, FP and FN in three colours."""

    options: ClassVar = {"render": CompareConfig}

    def render(self, config: CompareConfig, ctx: TaskContext) -> TaskResult:
        """Render a prediction against the ground truth for one class (--class-id K), in
        3D: voxels of class K in both are true positives (bluish green #009E73), in the
        prediction only false positives (vermillion #D55E00), in the truth only false
        negatives (blue #0072B2), drawn as surfaces framed on them, with a legend and the
        Dice score of the voxels read. Writes OUT (PNG), and OUT.html with --html.
        """
        from medtk.viz.render import picture, region
        from medtk.viz.render.classes import (
            ClassStyle,
            check_class,
            label_values,
            outcome_styles,
        )

        started = time.perf_counter()
        klass = config.class_id
        page = _check_outputs(config)
        pair, shape = _open_pair(config)
        sampling = _sampling(pair.pred, config, shape)
        where = f"{str(pair.pred.path)!r} or {str(pair.truth.path)!r}"
        recorded = set(label_values(pair.pred)) | set(label_values(pair.truth))
        if label_values(pair.pred) and label_values(pair.truth):
            check_class(klass, recorded, where)  # both say what they hold: before reading
        scene = _Scene(config, ctx)
        ctx.log(f"reading {inputs.note(pair.pred, sampling)}")
        predicted = region.read(pair.pred, sampling)
        true = region.read(pair.truth, sampling)
        found = set(np.unique(predicted).tolist()) | set(np.unique(true).tolist())
        check_class(klass, recorded | found, where)
        outcome = _outcome(predicted == klass, true == klass)
        tally = np.bincount(outcome.ravel(), minlength=4).tolist()
        counts = {"tp": tally[1], "fp": tally[2], "fn": tally[3]}
        if not any(counts.values()):
            raise BadInputError(
                f"--class-id {klass}: neither the prediction nor the truth has a voxel of "
                f"class {klass} in the region"
            )
        dice = 2 * counts["tp"] / (2 * counts["tp"] + counts["fp"] + counts["fn"])
        keys = ("tp", "fp", "fn")
        styles = outcome_styles()
        legend = [
            ClassStyle(s.value, s.rgb, f"{s.name}, {counts[key]:,} voxels")
            for s, key in zip(styles, keys, strict=True)
        ]
        drawn = [s for s, key in zip(styles, keys, strict=True) if counts[key]]
        shown = legend if config.legend else []
        image = scene.surfaces(
            outcome, sampling.spacing, drawn, picture.render_size(config.size, shown, dark=False)
        )
        title = f"class {klass}: prediction vs truth, Dice {dice:.3f}"
        note = f"{inputs.note(pair.pred, sampling)} · truth {inputs.display_name(pair.truth)}"
        picture.write_picture(
            config.out, image, config.size, styles=shown, title=title, note=note,
            overwrite=config.overwrite,
        )  # fmt: skip
        if page is not None:
            small_sampling = _viewer_sampling(pair.pred, sampling, config)
            small = outcome
            if small_sampling != sampling:
                small = _outcome(
                    region.read(pair.pred, small_sampling) == klass,
                    region.read(pair.truth, small_sampling) == klass,
                )
            backdrop = pair.backdrop()
            grey = None if backdrop is None else _grey_bytes(backdrop, small_sampling)
            content = _SurfacePage(
                title, note, pair.pred.unit, small_sampling, small, drawn, legend, grey
            )
            _write_surface_page(page, scene, content)
        record = _record(
            "compare", sampling, started, engine=scene.engine, class_id=klass, **counts,
            dice=round(dice, 6),
        )  # fmt: skip
        return _result(config, page, record)


# ---------------------------------------------------------------- 2D panels


@dataclass
class _ViewerPage:
    """What the ``--html`` page of a 2D renderer shows."""

    title: str
    note: str
    mode: str
    window: tuple[float, float]
    colours: np.ndarray | None
    point0: tuple[int, int, int]
    alpha: float = 0.45


def _write_viewer_page(
    page: Path,
    *,
    store: Store,
    labels_store: Store | None,
    sampling: Sampling,
    config: SlicesConfig | MipConfig,
    content: _ViewerPage,
) -> None:
    from medtk.viz.render import html, region
    from medtk.viz.render.classes import class_styles

    small = _viewer_sampling(store, sampling, config)
    values = region.read(store, small, reduce="mean", channel=config.channel)
    index, classes = None, []
    if labels_store is not None:
        labels = region.read(labels_store, small, reduce="nearest")
        index, classes = html.compact_labels(labels, class_styles(labels_store, np.unique(labels)))
    html.write_html(
        page,
        title=content.title,
        note=content.note,
        spacing=small.spacing,
        unit=store.unit,
        grey=html.to_bytes(values, content.window),
        labels=index,
        classes=classes,
        point=_to_sampled(content.point0, small),
        mode=content.mode,
        overlay=content.alpha,
        colours=content.colours,
        overwrite=config.overwrite,
    )


class SlicesRenderer(Task):
    """Orthogonal slices through a point, with label overlays."""

    options: ClassVar = {"render": SlicesConfig}

    def render(self, config: SlicesConfig, ctx: TaskContext) -> TaskResult:
        """Draw the xy, xz and yz slices through a point (--point, default the region's
        centre) in physical proportions, label classes blended over the grey values in
        their colours (--label; default the store's only label image). Only the three
        planes are read. Writes OUT (PNG), and OUT.html with --html (a slice viewer).
        """
        from medtk.viz.render import planes, region
        from medtk.viz.render.classes import class_styles

        started = time.perf_counter()
        page = _check_outputs(config)
        store, shape = inputs.open_volume(config.store, "store")
        colours = inputs.colour_ramp(config.cmap)
        inputs.check_window(config.window)
        inputs.check_channel(store, config.channel)
        labels_store = inputs.pick_label(store, config.label, "--label", required=False)
        if labels_store is not None:
            inputs.same_grid(store, labels_store, "label image")
        sampling = _sampling(store, config, shape)
        point0 = inputs.parse_point(config.point, sampling)
        ctx.log(f"reading three planes of {inputs.note(store, sampling)}")
        greys, label_planes = {}, {}
        for name, (axis, *_) in planes.PANELS.items():
            slab = region.plane(sampling, axis, point0[axis])
            grey = region.read(store, slab, reduce="mean", channel=config.channel)
            greys[name] = planes.orient(grey.squeeze(axis), name)
            if labels_store is not None:
                labels = region.read(labels_store, slab, reduce="nearest")
                label_planes[name] = planes.orient(labels.squeeze(axis), name)
        every = np.concatenate([g.ravel() for g in greys.values()])
        window = inputs.window(config.window, every, (0.5, 99.5))
        styles: list[ClassStyle] = []
        if labels_store is not None:
            present = np.unique(np.concatenate([p.ravel() for p in label_planes.values()]))
            styles = class_styles(labels_store, present)
        panels = [
            planes.Panel(name, greys[name], label_planes.get(name), f"{name} at {'zyx'[axis]}"
                         f" = {point0[axis]}")
            for name, (axis, *_) in planes.PANELS.items()
        ]  # fmt: skip
        note = inputs.note(store, sampling, f"window {window[0]:.4g} to {window[1]:.4g}")
        title = inputs.display_name(store)
        if labels_store is not None:
            title += f" with labels/{labels_store.path.name}"
        ramp = None if config.cmap == "gray" else colours
        planes.draw(
            config.out,
            panels,
            sampling.spacing,
            window=window,
            colours=ramp,
            styles=styles,
            alpha=config.alpha,
            point=_to_sampled(point0, sampling),
            title=title,
            note=note,
            size=config.size,
            legend=config.legend,
            overwrite=config.overwrite,
        )
        if page is not None:
            content = _ViewerPage(
                f"{title}: slices", note, "slice", window, ramp, point0, config.alpha
            )
            _write_viewer_page(
                page,
                store=store,
                labels_store=labels_store,
                sampling=sampling,
                config=config,
                content=content,
            )
        record = _record("slices", sampling, started, point=list(point0), window=list(window))
        return _result(config, page, record)


class MipRenderer(Task):
    """Maximum-intensity projections along the three axes."""

    options: ClassVar = {"render": MipConfig}

    def render(self, config: MipConfig, ctx: TaskContext) -> TaskResult:
        """Draw the maximum-intensity projections along z, y and x (the xy, xz and yz
        panels) in physical proportions. The maxima are dask reductions over the stored
        level, chunk by chunk, so the volume is never held in memory and a small bright
        spot is not averaged away past the pyramid. Writes OUT (PNG), and OUT.html with
        --html (a viewer with maximum projections and slices).
        """
        from medtk.viz.render import planes, region

        started = time.perf_counter()
        page = _check_outputs(config)
        store, shape = inputs.open_volume(config.store, "store")
        colours = inputs.colour_ramp(config.cmap)
        inputs.check_window(config.window)
        inputs.check_channel(store, config.channel)
        sampling = _sampling(store, config, shape)
        ctx.log(f"projecting {inputs.note(store, sampling)}")
        projections = {
            name: planes.orient(region.project(store, sampling, axis, channel=config.channel), name)
            for name, (axis, *_) in planes.PANELS.items()
        }
        every = np.concatenate([p.ravel() for p in projections.values()])
        window = inputs.window(config.window, every, (0.5, 99.9))
        panels = [
            planes.Panel(name, projections[name], None, f"{name}: maximum along {'zyx'[axis]}")
            for name, (axis, *_) in planes.PANELS.items()
        ]
        note = inputs.note(store, sampling, f"window {window[0]:.4g} to {window[1]:.4g}")
        title = f"{inputs.display_name(store)}: maximum-intensity projections"
        ramp = None if config.cmap == "gray" else colours
        planes.draw(
            config.out,
            panels,
            sampling.spacing,
            window=window,
            colours=ramp,
            styles=[],
            alpha=0.0,
            point=None,
            title=title,
            note=note,
            size=config.size,
            legend=False,
            overwrite=config.overwrite,
        )
        if page is not None:
            centre = inputs.parse_point(None, sampling)
            content = _ViewerPage(title, note, "mip", window, ramp, centre)
            _write_viewer_page(
                page, store=store, labels_store=None, sampling=sampling, config=config,
                content=content,
            )  # fmt: skip
        record = _record("mip", sampling, started, window=list(window))
        return _result(config, page, record)
