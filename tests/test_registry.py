"""Registries: lookup, glob listing, close-match errors, duplicates, lazy targets."""

from __future__ import annotations

import fnmatch
import re
import string
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from medtk.errors import BadInputError, DuplicateNameError, PluginError, UnknownNameError
from medtk.registry import KINDS, Registries, Registry, singular


def make_registry(*names: str) -> Registry:
    registry = Registry("models")
    for name in names:
        registry.add(name, "collections:OrderedDict", plugin="tests")
    return registry


def test_get_returns_the_entry_with_its_plugin_and_metadata():
    registry = Registry("models")
    registry.add("unet3d", "collections:OrderedDict", plugin="em", description="3D U-Net", dims=3)
    entry = registry.get("unet3d")
    assert (entry.name, entry.plugin, entry.description) == ("unet3d", "em", "3D U-Net")
    assert entry.metadata["dims"] == 3
    assert entry.is_lazy


def test_entries_are_frozen_so_a_caller_cannot_change_them_for_the_next():
    registry = Registry("models")
    registry.add("unet", dict, plugin="em", depth=4)
    entry = registry.get("unet")
    with pytest.raises(TypeError):
        entry.metadata["depth"] = 5  # type: ignore[index]
    with pytest.raises(AttributeError):
        entry.name = "other"  # type: ignore[misc]
    assert registry.get("unet").metadata["depth"] == 4


def test_glob_listing_is_sorted_and_filtered():
    registry = make_registry("resnet50", "resnet18", "efficientnet_b0", "unet")
    assert registry.names() == ["efficientnet_b0", "resnet18", "resnet50", "unet"]
    assert registry.names("resnet*") == ["resnet18", "resnet50"]
    assert registry.names("*net_b?") == ["efficientnet_b0"]
    assert [e.name for e in registry.entries("u*")] == ["unet"]


def test_unknown_name_lists_the_close_matches():
    registry = make_registry("resnet18", "resnet34", "unet")
    with pytest.raises(UnknownNameError, match=r"unknown model 'resnt18'; did you mean: resnet18"):
        registry.get("resnt18")


def test_unknown_name_without_close_matches_lists_what_is_known():
    registry = make_registry("resnet18", "unet")
    with pytest.raises(UnknownNameError, match=r"known models: resnet18, unet"):
        registry.get("zzz")
    with pytest.raises(UnknownNameError, match="no losses are installed"):
        Registry("losses").get("dice")


def test_unknown_name_is_bad_input_so_the_cli_exits_2():
    with pytest.raises(BadInputError) as info:
        Registry("losses").get("dice")
    assert info.value.exit_code == 2


def test_duplicate_name_is_an_error_naming_both_plugins():
    registry = Registry("losses")
    registry.add("dice", dict, plugin="em")
    with pytest.raises(
        DuplicateNameError,
        match=r"'dice' is registered by plugin 'em' and again "
        r"by plugin 'nas'",
    ):
        registry.add("dice", list, plugin="nas")
    assert registry.get("dice").target is dict


@pytest.mark.parametrize("name", ["", "  ", " lead", 3])
def test_invalid_names_are_refused(name):
    with pytest.raises(PluginError, match="invalid name"):
        Registry("models").add(name, dict, plugin="p")


@pytest.mark.parametrize("target", [None, "no_colon_here"])
def test_invalid_targets_are_refused(target):
    with pytest.raises(PluginError, match="target"):
        Registry("models").add("m", target, plugin="p")


def test_lazy_target_is_imported_only_on_load_and_then_cached():
    registry = Registry("models")
    registry.add("ordered", "collections:OrderedDict", plugin="p")
    registry.add("nested", "os:path.join", plugin="p")
    from collections import OrderedDict
    from os.path import join

    assert registry.load("ordered") is OrderedDict
    assert registry.load("nested") is join
    assert registry.load("ordered") is registry.load("ordered")


def test_listing_never_imports_a_lazy_target():
    registry = Registry("models")
    registry.add("heavy", "medtk_module_never_imported:Net", plugin="p")
    assert registry.names() == ["heavy"]
    assert registry.get("heavy").target_path == "medtk_module_never_imported:Net"
    assert "medtk_module_never_imported" not in sys.modules


def test_a_bad_lazy_target_names_the_entry_and_its_plugin():
    registry = Registry("losses")
    registry.add("missing-module", "medtk_no_such_module:Loss", plugin="third")
    registry.add("missing-attr", "collections:NoSuchThing", plugin="third")
    with pytest.raises(
        PluginError,
        match=r"loss 'missing-module' of plugin 'third': cannot "
        r"import 'medtk_no_such_module'",
    ):
        registry.load("missing-module")
    with pytest.raises(PluginError, match="has no attribute 'NoSuchThing'"):
        registry.load("missing-attr")


def test_eager_targets_report_their_import_path():
    registry = Registry("models")
    registry.add("od", __import__("collections").OrderedDict, plugin="p")
    assert registry.get("od").target_path == "collections:OrderedDict"


def test_discard_plugin_forgets_only_that_plugins_entries():
    registry = make_registry("a")
    registry.add("b", dict, plugin="other")
    registry.discard_plugin("tests")
    assert registry.names() == ["b"]


def test_registries_has_one_registry_per_kind():
    registries = Registries()
    assert [registries.of(k).kind for k in KINDS] == list(KINDS)
    with pytest.raises(UnknownNameError):
        registries.of("widgets")


@pytest.mark.parametrize(
    ("kind", "expected"),
    [("losses", "loss"), ("models", "model"), ("metrics", "metric"), ("tasks", "task")],
)
def test_singular(kind, expected):
    assert singular(kind) == expected


names = st.text(alphabet=string.ascii_lowercase + string.digits + "-_.", min_size=1, max_size=12)


@given(st.sets(names, max_size=20), st.text(alphabet=string.ascii_lowercase + "*?", max_size=5))
def test_glob_agrees_with_fnmatch(registered, pattern):
    registry = make_registry(*registered)
    assert registry.names(pattern) == sorted(
        n for n in registered if fnmatch.fnmatchcase(n, pattern)
    )


@given(st.sets(names, min_size=1, max_size=20), names)
def test_lookup_finds_every_registered_name_and_rejects_the_rest(registered, probe):
    registry = make_registry(*registered)
    for name in registered:
        assert registry.get(name).name == name
    if probe not in registered:
        with pytest.raises(UnknownNameError, match=re.escape(f"unknown model '{probe}'")):
            registry.get(probe)


def test_metadata_is_frozen_all_the_way_down():
    registry = Registry("readers")
    suffixes = [".nii", ".nii.gz"]
    registry.add("nifti", dict, plugin="io", suffixes=suffixes, options={"lazy": [True]})
    entry = registry.get("nifti")
    suffixes.append(".hdr")  # the caller's list is not the registry's
    assert entry.metadata["suffixes"] == (".nii", ".nii.gz")
    with pytest.raises(TypeError):
        entry.metadata["options"]["lazy"] = [False]
    assert entry.describe() == {
        "name": "nifti",
        "plugin": "io",
        "target": "builtins:dict",
        "description": "",
        "suffixes": [".nii", ".nii.gz"],
        "options": {"lazy": [True]},
    }
