"""Loading plugins: isolation of broken ones, allow/block lists, tracing, fresh managers."""

from __future__ import annotations

import types

import pytest

from medtk import hookimpl
from medtk.plugins import load_plugins
from toys import ToyPlugin


def load(*plugins, env=None):
    warnings: list[str] = []
    loaded = load_plugins(entry_points=False, extra=plugins, env=env or {}, warn=warnings.append)
    return loaded, warnings


class GoodPlugin:
    @hookimpl
    def register_models(self, register):
        register("good-net", "collections:OrderedDict", description="fine")


class RaisingPlugin:
    """Registers a loss, then raises in another hook: nothing of it may land."""

    @hookimpl
    def register_losses(self, register):
        register("half-registered", dict)

    @hookimpl
    def register_models(self, register):
        raise RuntimeError("cannot find my weights")


class ClashingPlugin:
    @hookimpl
    def register_models(self, register):
        register("good-net", dict)


class MisspelledPlugin:
    @hookimpl
    def register_modles(self, register):
        register("x", dict)


class WrongArgumentPlugin:
    @hookimpl
    def register_models(self, registry):
        registry("x", dict)


def test_each_call_builds_a_fresh_manager_and_registries():
    first, _ = load(("good", GoodPlugin()))
    second, _ = load()
    assert first.manager is not second.manager
    assert "good-net" in first.registries.models
    assert "good-net" not in second.registries.models


def test_a_plugin_whose_hook_raises_is_reported_by_name_and_skipped_whole():
    loaded, warnings = load(("good", GoodPlugin()), ("raiser", RaisingPlugin()))
    assert warnings == ["plugin 'raiser' skipped: RuntimeError: cannot find my weights"]
    assert "half-registered" not in loaded.registries.losses
    assert loaded.registries.models.names() == ["good-net"]
    record = {r.name: r for r in loaded.records}["raiser"]
    assert (record.status, record.error) == ("failed", warnings[0].split(" ", 2)[2])
    assert loaded.manager.get_plugin("raiser") is None


def test_a_duplicate_name_skips_the_later_plugin_and_names_both():
    loaded, warnings = load(("good", GoodPlugin()), ("clash", ClashingPlugin()))
    assert len(warnings) == 1
    assert (
        "model 'good-net' is registered by plugin 'good' and again by plugin 'clash'"
        in (warnings[0])
    )
    assert loaded.registries.models.get("good-net").plugin == "good"


def test_a_misspelled_hook_is_caught_and_the_plugin_skipped():
    loaded, warnings = load(("typo", MisspelledPlugin()), ("good", GoodPlugin()))
    assert len(warnings) == 1
    assert warnings[0].startswith("plugin 'typo' cannot be loaded")
    assert "register_modles" in warnings[0]
    assert loaded.registries.models.names() == ["good-net"]


def test_a_hook_with_wrong_argument_names_is_rejected():
    loaded, warnings = load(("wrong", WrongArgumentPlugin()))
    assert len(warnings) == 1
    assert "Argument(s) {'registry'} are declared in the hookimpl" in warnings[0]
    assert "\n" not in warnings[0]
    assert len(loaded.registries.models) == 0


def test_a_plugin_that_fails_to_import_is_reported_and_the_rest_work(monkeypatch):
    """An entry point whose module import fails (the real one is in test_example_plugin)."""
    from medtk import plugins as plugin_module

    def broken_load():
        raise ModuleNotFoundError("No module named 'cupy'")

    candidate = plugin_module._Candidate(name="gpu", module="medtk_gpu.plugin", load=broken_load)
    monkeypatch.setattr(plugin_module, "_entry_point_candidates", lambda: [candidate])
    warnings: list[str] = []
    loaded = load_plugins(extra=[("good", GoodPlugin())], env={}, warn=warnings.append)
    assert warnings == [
        "plugin 'gpu' cannot be loaded: ModuleNotFoundError: No module named 'cupy'"
    ]
    assert loaded.registries.models.names() == ["good-net"]


@pytest.mark.parametrize(
    ("env", "loaded_names"),
    [
        ({}, ["good", "toy"]),
        ({"MEDTK_LOAD_PLUGINS": "toy"}, ["toy"]),
        ({"MEDTK_LOAD_PLUGINS": " toy , good "}, ["good", "toy"]),
        ({"MEDTK_LOAD_PLUGINS": ""}, []),
        ({"MEDTK_DISABLE_PLUGINS": "toy"}, ["good"]),
        ({"MEDTK_LOAD_PLUGINS": "toy,good", "MEDTK_DISABLE_PLUGINS": "good"}, ["toy"]),
    ],
)
def test_allow_and_block_lists(env, loaded_names):
    loaded, warnings = load(("good", GoodPlugin()), ("toy", ToyPlugin()), env=env)
    assert warnings == []
    assert sorted(r.name for r in loaded.records if r.status == "ok") == loaded_names
    assert {r.name for r in loaded.records if r.status == "disabled"} == (
        {"good", "toy"} - set(loaded_names)
    )
    assert ("good-net" in loaded.registries.models) == ("good" in loaded_names)


def test_trace_prints_every_registration(capsys):
    load(("good", GoodPlugin()), env={"MEDTK_TRACE_PLUGINS": "1"})
    assert "trace: plugin 'good' registered model 'good-net'" in capsys.readouterr().err


def test_describe_lists_what_each_plugin_registered():
    loaded, _ = load(("toy", ToyPlugin()), ("raiser", RaisingPlugin()))
    rows = {row["name"]: row for row in loaded.describe()}
    assert rows["toy"]["tasks"] == ["toy"]
    assert rows["toy"]["models"] == ["toy-linear", "toy-net"]
    assert rows["toy"]["losses"] == ["toy-l1"]
    assert rows["raiser"]["status"] == "failed"
    assert rows["raiser"]["losses"] == []


def test_modules_work_as_plugins_as_well_as_objects():
    module = types.ModuleType("medtk_module_plugin")

    @hookimpl
    def register_metrics(register):
        register("dice", "collections:Counter")

    module.register_metrics = register_metrics
    loaded, warnings = load(("mod", module))
    assert warnings == []
    assert loaded.registries.metrics.get("dice").plugin == "mod"


def test_loading_imports_no_lazy_target():
    import sys

    load(("toy", ToyPlugin()))
    assert "tests_toy_models" not in sys.modules
