"""Hooks of the ``em`` family; every target is a lazy import path."""

from __future__ import annotations

from medtk.hookspecs import Register, hookimpl


@hookimpl
def register_tasks(register: Register) -> None:
    """EM segmentation and its synthetic FIB-SEM phantom."""
    register(
        "em-phantom",
        "medtk_em.phantom_task:PhantomTask",
        description="Synthetic FIB-SEM-like volume with labels for eight classes",
    )
    register(
        "em",
        "medtk_em.task:EmTask",
        description="EM volume segmentation: multi-class or one-vs-rest 3D U-Nets, F1 sweeps",
    )
