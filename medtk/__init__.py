"""medtk: deep learning on large medical and biological images, from the command line."""

from medtk.hookspecs import hookimpl

__version__ = "0.1.0"
__all__ = ["__version__", "hookimpl"]
