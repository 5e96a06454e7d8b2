"""3D scenes drawn by VTK through pyvista, off-screen, returned as RGB arrays.

``volume_images`` ray-casts an intensity volume with a colour map and an opacity ramp;
``surface_images`` draws one smoothed surface per class of a label volume (marching
cubes, flying-edges variant, on each class's bounding box). Both take a list of cameras
and return one picture per camera from one scene, so a turntable costs one scene build.
Call :func:`medtk.viz.render.backend.choose_engine` first: it makes sure an OpenGL
window can start here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from medtk.viz.render.camera import Camera
from medtk.viz.render.classes import ClassStyle
from medtk.viz.render.framing import frame

if TYPE_CHECKING:
    import pyvista as pv

#: Surface material: mostly diffuse, a little shine, enough ambient light for shadowed sides.
AMBIENT, DIFFUSE, SPECULAR = 0.3, 0.7, 0.15


def _image_data(volume: np.ndarray, spacing: tuple[float, float, float], name: str) -> Any:
    import pyvista as pv

    nz, ny, nx = volume.shape
    grid = pv.ImageData(dimensions=(nx, ny, nz), spacing=(spacing[2], spacing[1], spacing[0]))
    grid.point_data[name] = np.ascontiguousarray(volume).ravel(order="C")
    return grid


def _plotter(size: tuple[int, int], background: str) -> pv.Plotter:
    import pyvista as pv

    plotter = pv.Plotter(off_screen=True, window_size=list(size), lighting="light_kit")
    plotter.set_background(background)
    plotter.enable_parallel_projection()
    return plotter


def software_opengl(plotter: pv.Plotter) -> bool:
    """True when OpenGL is Mesa's software rasteriser (llvmpipe) rather than a GPU."""
    plotter.render_window.Render()  # makes the OpenGL context that the report reads
    capabilities = plotter.render_window.ReportCapabilities() or ""
    return any(name in capabilities for name in ("llvmpipe", "softpipe", "swrast"))


def _shoot(
    plotter: pv.Plotter,
    shape: tuple[int, int, int],
    spacing: tuple[float, float, float],
    cameras: Sequence[Camera],
    size: tuple[int, int],
) -> list[np.ndarray]:
    """One RGB picture per camera, each framed like every other engine frames it."""
    images = []
    for cam in cameras:
        f = frame(shape, spacing, cam, size)
        distance = 4.0 * max(f.half_height, f.half_width) + 1.0
        centre = np.asarray(f.centre)
        vtk_camera = plotter.camera
        vtk_camera.focal_point = tuple(centre)
        vtk_camera.position = tuple(centre - distance * np.asarray(cam.direction))
        vtk_camera.up = cam.up
        vtk_camera.parallel_projection = True
        vtk_camera.parallel_scale = f.half_height
        plotter.renderer.ResetCameraClippingRange()
        plotter.render()
        image = plotter.screenshot(return_img=True)
        images.append(np.asarray(image)[..., :3].copy())
    return images


def volume_images(
    volume: np.ndarray,
    spacing: tuple[float, float, float],
    *,
    window: tuple[float, float],
    colours: np.ndarray,
    opacity: float,
    cameras: Sequence[Camera],
    size: tuple[int, int],
    background: str = "black",
) -> list[np.ndarray]:
    """Ray-cast ``volume`` ``(z, y, x)``: values from ``window[0]`` (clear) to ``window[1]``
    coloured along ``colours`` (``(n, 3)`` RGB 0–1), opacity rising as the square of the
    position in the window up to ``opacity`` per 1/100 of the box's diagonal."""
    from vtkmodules.vtkCommonDataModel import vtkPiecewiseFunction
    from vtkmodules.vtkRenderingCore import (
        vtkColorTransferFunction,
        vtkVolume,
        vtkVolumeProperty,
    )
    from vtkmodules.vtkRenderingVolumeOpenGL2 import vtkSmartVolumeMapper

    low, high = window
    grid = _image_data(volume.astype(np.float32, copy=False), spacing, "intensity")
    colour_tf = vtkColorTransferFunction()
    for i, rgb in enumerate(colours):
        colour_tf.AddRGBPoint(low + (high - low) * i / (len(colours) - 1), *map(float, rgb))
    opacity_tf = vtkPiecewiseFunction()
    for t in np.linspace(0.0, 1.0, 17):
        opacity_tf.AddPoint(low + (high - low) * t, float(opacity * t * t))
    prop = vtkVolumeProperty()
    prop.SetColor(colour_tf)
    prop.SetScalarOpacity(opacity_tf)
    prop.SetInterpolationTypeToLinear()
    prop.ShadeOn()
    prop.SetAmbient(0.5)
    prop.SetDiffuse(0.8)
    prop.SetSpecular(0.15)
    diagonal = float(
        np.linalg.norm([(n - 1) * s for n, s in zip(volume.shape, spacing, strict=True)])
    )
    prop.SetScalarOpacityUnitDistance(max(diagonal / 100.0, 1e-6))
    mapper = vtkSmartVolumeMapper()
    mapper.SetInputData(grid)
    mapper.SetBlendModeToComposite()
    actor = vtkVolume()
    actor.SetMapper(mapper)
    actor.SetProperty(prop)
    plotter = _plotter(size, background)
    try:
        if software_opengl(plotter):
            mapper.SetRequestedRenderModeToRayCast()  # VTK's CPU ray caster: twice as fast
        plotter.renderer.AddVolume(actor)
        return _shoot(plotter, volume.shape, spacing, cameras, size)
    finally:
        plotter.close()


def class_surfaces(
    labels: np.ndarray, spacing: tuple[float, float, float], styles: Sequence[ClassStyle]
) -> list[tuple[ClassStyle, Any]]:
    """One smoothed triangle surface per class present in ``labels`` ``(z, y, x)``."""
    import pyvista as pv
    from scipy import ndimage

    wanted = {style.value: style for style in styles}
    top = max(wanted, default=0)
    if top == 0:
        return []
    clipped = np.where(labels <= top, labels, 0).astype(np.int32, copy=False)
    boxes = ndimage.find_objects(clipped, max_label=top)
    surfaces = []
    for value, box in enumerate(boxes, start=1):
        if box is None or value not in wanted:
            continue
        start = [max(b.start - 1, 0) for b in box]
        stop = [min(b.stop + 1, n) for b, n in zip(box, labels.shape, strict=True)]
        mask = clipped[tuple(slice(a, b) for a, b in zip(start, stop, strict=True))] == value
        mask = np.pad(mask, 1).astype(np.float32)  # closed surfaces at the volume's edge too
        origin = [(a - 1) * s for a, s in zip(start, spacing, strict=True)]
        grid = pv.ImageData(
            dimensions=mask.shape[::-1],
            spacing=(spacing[2], spacing[1], spacing[0]),
            origin=(origin[2], origin[1], origin[0]),
        )
        grid.point_data["mask"] = mask.ravel(order="C")
        surface = grid.contour([0.5], scalars="mask", method="flying_edges")
        if surface.n_points == 0:
            continue
        if surface.n_points > 20:
            surface = surface.smooth_taubin(n_iter=15, pass_band=0.1)
        surfaces.append((wanted[value], surface))
    return surfaces


def surface_images(
    labels: np.ndarray,
    spacing: tuple[float, float, float],
    styles: Sequence[ClassStyle],
    *,
    cameras: Sequence[Camera],
    size: tuple[int, int],
    background: str = "white",
) -> list[np.ndarray]:
    """Draw each class of ``labels`` as a surface in its style's colour.

    The surfaces are merged into one mesh coloured per point, so thousands of classes
    (instance labels) cost one draw, not thousands.
    """
    import pyvista as pv

    plotter = _plotter(size, background)
    try:
        meshes = []
        for style, surface in class_surfaces(labels, spacing, styles):
            rgb = np.round(np.asarray(style.rgb) * 255).astype(np.uint8)
            surface.point_data["rgb"] = np.broadcast_to(rgb, (surface.n_points, 3)).copy()
            meshes.append(surface)
        if meshes:
            mesh = meshes[0] if len(meshes) == 1 else pv.merge(meshes, merge_points=False)
            plotter.add_mesh(
                mesh,
                scalars="rgb",
                rgb=True,
                smooth_shading=True,
                ambient=AMBIENT,
                diffuse=DIFFUSE,
                specular=SPECULAR,
                reset_camera=False,
            )
        return _shoot(plotter, labels.shape, spacing, cameras, size)
    finally:
        plotter.close()
