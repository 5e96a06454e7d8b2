"""Zero-shot super-resolution (ZSSR; Shocher, Cohen & Irani, CVPR 2018) for images and
volumes: ``medtk superres zssr`` and ``medtk evaluate superres``.

- :mod:`~medtk.superres.kernels`: separable resizing with bicubic, bilinear, box,
  Lanczos and Gaussian kernels, for any (non-integer, per-axis) scale;
- :mod:`~medtk.superres.zssr`: the image-specific network, its training and inference on
  numpy arrays ``(C, H, W)``;
- :mod:`~medtk.superres.volumes`: 2D, slice-wise (xy) and along-z strategies, reading
  inputs and writing outputs;
- :mod:`~medtk.superres.task` and :mod:`~medtk.superres.config`: the CLI tasks.

Nothing here imports torch at module load.
"""
