"""Small but realistic sample inputs, written in the real file formats medtk reads.

Demos, tests and benchmarks need data that exercises the real readers (pyramidal TIFF
through tifffile and OpenSlide, DICOM series through pydicom, NIfTI through nibabel) and
looks like the real thing, without downloads or licences. Every generator is seeded
(``seed=0`` by default) and deterministic: the same arguments give the same pixels.

- :func:`write_slide`: an H&E whole-slide image, pyramidal JPEG-tiled BigTIFF, streamed
  tile by tile so any size fits in flat memory; :func:`slide_tissue_mask` gives its
  low-resolution tissue layout and :class:`SyntheticSlide` renders any region.
- :func:`write_ct_series`: an abdominal CT as a DICOM series (one file per slice), with
  :func:`ct_phantom` for the HU volume and liver mask as arrays.
- :func:`write_nifti` / :func:`write_nifti_label`: a brain-like T1 MR (or the CT phantom)
  as ``.nii.gz``, with :func:`mr_phantom` for the arrays.

Volumes are ``(z, y, x)`` arrays throughout; see each module for its file's geometry.
Only numpy is imported eagerly; scipy, tifffile, pydicom and nibabel load on first use.
"""

from medtk.datasets.ct import ct_phantom, write_ct_series
from medtk.datasets.nifti import MR_LABELS, mr_phantom, write_nifti, write_nifti_label
from medtk.datasets.wsi import SyntheticSlide, slide_tissue_mask, write_slide

__all__ = [
    "MR_LABELS",
    "SyntheticSlide",
    "ct_phantom",
    "mr_phantom",
    "slide_tissue_mask",
    "write_ct_series",
    "write_nifti",
    "write_nifti_label",
    "write_slide",
]
