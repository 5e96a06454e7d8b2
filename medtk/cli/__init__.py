"""The ``medtk`` command line: verbs, option parsing, output and exit codes.

Nothing here imports torch, timm, dask or zarr at module load, so ``medtk --help`` stays
fast; tasks import what they need when they run.
"""
