"""``medtk render``: pictures of volumes and results, written as PNG (and ``--html``).

==========  ==============================================================================
renderer    picture
==========  ==============================================================================
volume      3D volume rendering of intensities (colour map and opacity ramp)
labels      3D surfaces of a label image, one per class, in the store's class colours
compare     3D true positives, false positives and false negatives of one class
slices      xy, xz and yz slices through a point, label classes blended over them
mip         maximum-intensity projections along z, y and x
==========  ==============================================================================

Modules, each with one job:

- :mod:`~medtk.viz.render.region` — ``--roi``, the pyramid level and the sampling that
  keep a read under ``--max-voxels``; lazy reads and projections with dask;
- :mod:`~medtk.viz.render.camera` and :mod:`~medtk.viz.render.framing` — views, and
  where the volume sits in the picture (shared by both engines);
- :mod:`~medtk.viz.render.backend` — whether VTK can render off-screen here;
- :mod:`~medtk.viz.render.vtk_scene` (VTK through pyvista) and
  :mod:`~medtk.viz.render.raycast` (numpy) — 3D pictures as arrays;
- :mod:`~medtk.viz.render.planes` — the 2D panels of ``slices`` and ``mip``;
- :mod:`~medtk.viz.render.classes` — class colours and names, the TP/FP/FN colours;
- :mod:`~medtk.viz.render.picture` and :mod:`~medtk.viz.render.html` — the outputs;
- :mod:`~medtk.viz.render.tasks` and :mod:`~medtk.viz.render.config` — the renderers.

Nothing heavy is imported here: pyvista, VTK and matplotlib load when a picture is drawn.
"""
