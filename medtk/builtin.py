"""medtk's built-in plugin: the readers and the ``medtk preprocess`` steps of the core.

It registers through the ``medtk`` entry-point group like any third-party plugin; every
target is a lazy import path, so listing plugins imports no reader library.
"""

from __future__ import annotations

from medtk.hookspecs import Register, hookimpl


@hookimpl
def register_readers(register: Register) -> None:
    """The input formats ``medtk preprocess ingest`` reads (detected by content)."""
    register(
        "openslide",
        "medtk.io.openslide_reader:OpenSlideReader",
        description="Whole-slide images through OpenSlide (SVS, NDPI, MRXS, SCN, Philips …)",
        suffixes=[".svs", ".ndpi", ".mrxs", ".scn", ".vms", ".vmu", ".bif", ".tif", ".tiff"],
        priority=20,
    )
    register(
        "dicom",
        "medtk.io.dicom:DicomReader",
        description="DICOM files and series folders (pydicom), rescaled to Hounsfield units",
        suffixes=[".dcm", ".dicom", ".ima", ""],
        priority=10,
    )
    register(
        "nifti",
        "medtk.io.nifti:NiftiReader",
        description="NIfTI-1 and NIfTI-2 volumes (nibabel)",
        suffixes=[".nii", ".nii.gz", ".hdr"],
        priority=10,
    )
    register(
        "itk",
        "medtk.io.itk:ItkReader",
        description="NRRD and MetaImage as 3D Slicer and ITK write them (SimpleITK)",
        suffixes=[".nrrd", ".nhdr", ".mha", ".mhd"],
        priority=10,
    )
    register(
        "hdf5",
        "medtk.io.hdf5:Hdf5Reader",
        description="HDF5 image/annotation pairs, datasets named 0..n-1 (h5py)",
        suffixes=[".h5", ".hdf5", ".hdf"],
        priority=5,  # it claims every HDF5 file, so more specific readers go first
    )
    register(
        "tiff",
        "medtk.io.tiff:TiffReader",
        description="TIFF, BigTIFF, OME-TIFF, stacks and tiled pyramids (tifffile)",
        suffixes=[".tif", ".tiff", ".ome.tif", ".ome.tiff"],
        priority=10,
    )
    register(
        "npy",
        "medtk.io.numpy_reader:NpyReader",
        description="NumPy .npy arrays, memory-mapped",
        suffixes=[".npy"],
        priority=10,
    )
    register(
        "slices",
        "medtk.io.slices:SliceFolderReader",
        description="PNG/JPEG files, and folders of PNG/JPEG/TIFF slices stacked along z",
        suffixes=[".png", ".jpg", ".jpeg", ""],
        priority=5,
    )


@hookimpl
def register_models(register: Register) -> None:
    """Reference networks of the core."""
    register(
        "tiny-cnn",
        "medtk.nn.models.tiny_cnn:TinyCNN",
        description="Two conv stages and a linear head: the engine's test and demo network",
    )
    register(
        "unet2d",
        "medtk.nn.models.unet:unet2d",
        description="2D U-Net (Ronneberger 2015): depth, width and normalisation by option",
    )
    register(
        "unet3d",
        "medtk.nn.models.unet:unet3d",
        description="3D U-Net (Çiçek 2016): depth, width and normalisation by option",
    )


@hookimpl
def register_losses(register: Register) -> None:
    """The shared losses (``medtk.nn.losses``), each with its formula and reference."""
    from medtk.nn.losses.catalog import LOSSES

    for name, (target, description) in LOSSES.items():
        register(name, target, description=description)


@hookimpl
def register_metrics(register: Register) -> None:
    """Classification, segmentation and image metrics (``medtk.metrics``)."""
    from medtk.metrics.catalog import METRICS

    for name, (target, description) in METRICS.items():
        register(name, target, description=description)


@hookimpl
def register_tasks(register: Register) -> None:
    """The ``medtk preprocess`` steps every family builds on."""
    steps = {
        "ingest": ("medtk.preprocess.ingest:IngestTask", "Any supported input → OME-Zarr store"),
        "info": ("medtk.preprocess.info:InfoTask", "Levels, shapes, chunks and metadata"),
        "patches": ("medtk.preprocess.patches:PatchesTask", "Tissue patch grid of a slide"),
        "window": ("medtk.preprocess.window:WindowTask", "Hounsfield-windowed copy of a CT"),
        "cohort": ("medtk.preprocess.cohort:CohortTask", "Cohort table with grouped folds"),
        "sample": ("medtk.preprocess.sample:SampleTask", "Synthetic slide, CT or MR to try"),
        "shapes": ("medtk.train.shapes:ShapesTask", "Tiny CNN on generated shapes (engine demo)"),
        "zssr": (
            "medtk.superres.task:ZssrTask",
            "Zero-shot super-resolution (ZSSR) of an image or a volume, trained on itself",
        ),
        "superres": (
            "medtk.superres.task:SuperresTask",
            "ZSSR against bicubic on a downsampled image: PSNR and SSIM",
        ),
        "predictions": (
            "medtk.evaluate.predictions:PredictionsTask",
            "AUC with bootstrap CI, scores, confusion matrix and plots of predictions",
        ),
    }
    for name, (target, description) in steps.items():
        register(name, target, description=description)


@hookimpl
def register_renderers(register: Register) -> None:
    """``medtk render``: pictures of volumes and results (pyvista off-screen, or numpy)."""
    renderers = {
        "volume": ("VolumeRenderer", "Volume rendering of an intensity volume"),
        "labels": ("LabelsRenderer", "A label volume as surfaces in class colours"),
        "compare": ("CompareRenderer", "Prediction vs truth: TP, FP and FN in three colours"),
        "slices": ("SlicesRenderer", "Orthogonal slices with label overlays"),
        "mip": ("MipRenderer", "Maximum-intensity projections along the three axes"),
    }
    for name, (cls, description) in renderers.items():
        register(name, f"medtk.viz.render.tasks:{cls}", description=description)
