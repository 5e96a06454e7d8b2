"""The metric catalog: cheap to import, every name resolves to a documented callable."""

from __future__ import annotations

import importlib
import inspect
import re
import subprocess
import sys

import pytest

import medtk.metrics
from medtk.metrics.catalog import METRICS

REQUIRED = {
    "auc",
    "accuracy",
    "precision",
    "recall",
    "specificity",
    "f1",
    "dice",
    "jaccard",
    "mae",
    "psnr",
    "ssim",
    "confusion-matrix",
    "f1-threshold-sweep",
}


def resolve(target: str) -> object:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def test_catalog_holds_the_required_names():
    assert set(METRICS) >= REQUIRED


@pytest.mark.parametrize("name", sorted(METRICS))
def test_entry_is_kebab_case_and_resolves_to_a_documented_function(name):
    target, description = METRICS[name]
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", name)
    assert re.fullmatch(r"medtk\.metrics\.[a-z_]+:[a-z_0-9]+", target)
    assert description and "\n" not in description and len(description) <= 90
    function = resolve(target)
    assert inspect.isfunction(function)
    doc = inspect.getdoc(function) or ""
    assert ":param y_true:" in doc or "See :func:" in doc


def test_importing_the_catalog_imports_no_numpy_nor_sklearn():
    code = (
        "import sys, medtk.metrics.catalog as c; "
        "assert c.METRICS; "
        "heavy = {'numpy', 'sklearn', 'skimage', 'torch'} & set(sys.modules); "
        "print(sorted(heavy))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"


def test_package_exports_resolve_lazily():
    for name in medtk.metrics.__all__:
        assert getattr(medtk.metrics, name) is not None
    assert set(medtk.metrics.__all__) <= set(dir(medtk.metrics))
    assert callable(medtk.metrics.ssim)  # the function, not its module
    with pytest.raises(AttributeError):
        medtk.metrics.no_such_metric  # noqa: B018


def test_no_sklearn_import_at_metric_import_time():
    code = (
        "import sys, medtk.metrics as m; "
        "[getattr(m, n) for n in m.__all__]; "
        "print(sorted({'sklearn', 'skimage'} & set(sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"
