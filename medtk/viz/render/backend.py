"""Which engine draws the 3D renders: VTK (through pyvista) off-screen, or numpy.

VTK's PyPI wheels (9.4 and later) pick an OpenGL window at run time: X11, then EGL,
then OSMesa. Headless machines have no X server; EGL with Mesa's software rasteriser
(llvmpipe) renders on the CPU, and on a GPU machine EGL uses the GPU. The wheels load
the system's libraries with ``dlopen`` and crash (a segmentation fault, not an error)
when none of them works, so medtk checks first, with ``ctypes``, which one can start:

1. ``VTK_DEFAULT_OPENGL_WINDOW`` set by the user: trusted as it is;
2. EGL: ``libEGL.so.1`` loads and initialises a display (Debian/Ubuntu packages
   ``libegl1`` and ``libgl1-mesa-dri``; NVIDIA's driver provides its own);
3. OSMesa: ``libOSMesa.so.8`` loads (package ``libosmesa6``);
4. X11: ``$DISPLAY`` is set and ``libGL.so.1`` loads.

The first that works is named in ``VTK_DEFAULT_OPENGL_WINDOW`` before VTK makes a window
(so VTK skips its X11 attempt and its warning on headless machines). Where none works,
``--engine auto`` draws with :mod:`medtk.viz.render.raycast` (numpy) instead, and
``--engine vtk`` stops with one line saying what to install.
"""

from __future__ import annotations

import ctypes
import functools
import importlib.util
import os
from typing import Literal

from medtk.errors import MedtkError

Engine = Literal["auto", "vtk", "numpy"]
ENV = "VTK_DEFAULT_OPENGL_WINDOW"
INSTALL_HINT = (
    "install EGL with Mesa (Debian/Ubuntu: apt-get install libegl1 libgl1-mesa-dri) "
    "or OSMesa (apt-get install libosmesa6), or use --engine numpy"
)

_EGL_PLATFORM_DEVICE_EXT = 0x313F


@functools.cache
def opengl_window() -> str | None:
    """The VTK render-window class that can start here, or None when none can."""
    chosen = os.environ.get(ENV)
    if chosen:
        return chosen
    if _egl_works():
        return "vtkEGLRenderWindow"
    if _loads("libOSMesa.so.8") or _loads("libOSMesa.so"):
        return "vtkOSOpenGLRenderWindow"
    if os.environ.get("DISPLAY") and _loads("libGL.so.1"):
        return "vtkXOpenGLRenderWindow"
    return None


def _loads(name: str) -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(name)
    except OSError:
        return None


def _egl_works() -> bool:
    """True when EGL initialises a display, asked in a child process: initialising Mesa's
    EGL loads its own LLVM into the process, and a later import of one built against
    another LLVM (triton, which torch loads with its first optimiser) then crashes. The
    probe's libraries die with the child; VTK loads them only once it really renders."""
    import subprocess
    import sys

    probe = "from medtk.viz.render.backend import _egl_probe as p; raise SystemExit(not p())"
    try:
        done = subprocess.run(
            [sys.executable, "-c", probe], check=False, capture_output=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _egl_probe() -> bool:
    """True when EGL initialises a display here: a GPU, or Mesa's software device."""
    egl = _loads("libEGL.so.1")
    if egl is None:
        return False
    try:
        egl.eglGetProcAddress.restype = ctypes.c_void_p
        egl.eglGetProcAddress.argtypes = [ctypes.c_char_p]
        egl.eglGetDisplay.restype = ctypes.c_void_p
        egl.eglGetDisplay.argtypes = [ctypes.c_void_p]
        egl.eglInitialize.restype = ctypes.c_uint
        egl.eglInitialize.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
        egl.eglTerminate.argtypes = [ctypes.c_void_p]
        displays = []
        query = egl.eglGetProcAddress(b"eglQueryDevicesEXT")
        platform = egl.eglGetProcAddress(b"eglGetPlatformDisplayEXT")
        if query and platform:  # how VTK asks: one display per device
            query_devices = ctypes.CFUNCTYPE(
                ctypes.c_uint,
                ctypes.c_int,
                ctypes.POINTER(ctypes.c_void_p),
                ctypes.POINTER(ctypes.c_int),
            )(query)
            platform_display = ctypes.CFUNCTYPE(
                ctypes.c_void_p, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p
            )(platform)
            devices = (ctypes.c_void_p * 16)()
            count = ctypes.c_int(0)
            if query_devices(16, devices, ctypes.byref(count)):
                displays += [
                    platform_display(_EGL_PLATFORM_DEVICE_EXT, devices[i], None)
                    for i in range(count.value)
                ]
        displays.append(egl.eglGetDisplay(None))
        for display in displays:
            major, minor = ctypes.c_int(), ctypes.c_int()
            if display and egl.eglInitialize(display, ctypes.byref(major), ctypes.byref(minor)):
                egl.eglTerminate(display)
                return True
    except (AttributeError, OSError, ctypes.ArgumentError):
        return False
    return False


def vtk_available() -> bool:
    """True when pyvista is installed and an OpenGL window can start."""
    return importlib.util.find_spec("pyvista") is not None and opengl_window() is not None


def choose_engine(asked: Engine) -> Literal["vtk", "numpy"]:
    """The engine to draw with: ``vtk`` where it can run (for ``auto``), else ``numpy``."""
    if asked == "numpy":
        return "numpy"
    if vtk_available():
        os.environ.setdefault(ENV, opengl_window() or "")
        return "vtk"
    if asked == "vtk":
        if importlib.util.find_spec("pyvista") is None:
            raise MedtkError("--engine vtk needs pyvista: pip install pyvista")
        raise MedtkError(f"--engine vtk: no OpenGL library can render here; {INSTALL_HINT}")
    return "numpy"
