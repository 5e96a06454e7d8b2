"""The nas family's pieces: label merging, bags per the method, the fusion networks, the
feature cache, and training end to end on a small cohort whose images encode the label."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import medtk_nas.plugin
import numpy as np
import pytest
import torch
import zarr
from medtk_nas.bags import CtRule, liver_slices
from medtk_nas.models import NasNet, bag_loss, check_variant
from medtk_nas.targets import DEFAULT_MERGES, merge_for, parse_merge

import medtk.builtin
from medtk.errors import BadInputError
from medtk.io.ingest import IngestOptions, write_store
from medtk.io.source import array_source

PLUGINS = [("core", medtk.builtin), ("nas", medtk_nas.plugin)]


# ---------------------------------------------------------------- label merging


@pytest.mark.parametrize(
    ("target", "raw", "classes"),
    [
        ("fibrosis", [0, 1, 2, 3, 3.5, 4], [0, 1, 1, 2, 2, 2]),
        ("steatosis", [0, 1, 2, 3], [0, 0, 1, 1]),
        ("lobular", [0, 1, 2, 3], [0, 1, 2, 2]),
        ("ballooning", [0, 1, 2], [0, 1, 2]),
    ],
)
def test_the_sources_merging_of_scores(target, raw, classes):
    merge = merge_for(target)
    assert [merge(score) for score in raw] == classes
    assert merge.classes == max(classes) + 1
    assert merge.names() == DEFAULT_MERGES[target].split("|")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0", "fewer than two classes"),
        ("0-2|2-4", "overlap"),
        ("0|a", "not a score"),
        ("3-1|4", "backwards"),
    ],
)
def test_bad_mergings_are_named(text, message):
    with pytest.raises(BadInputError, match=message):
        parse_merge(text)


def test_a_score_outside_every_class_is_bad_input():
    with pytest.raises(BadInputError, match="falls in no class"):
        parse_merge("0|1-2")(3)


# ---------------------------------------------------------------- CT instances


def test_ct_slices_are_windowed_masked_and_empty_ones_dropped():
    hu = np.full((4, 8, 8), 250.0, dtype=np.float32)
    hu[1] = -200.0  # windowed to 0
    hu[2] = 25.0  # the window's middle: 127.5 → 128 (half to even)
    liver = np.zeros_like(hu, dtype=np.uint8)
    liver[:, 2:6, 2:6] = 1
    liver[3] = 0  # no liver on the last slice
    slices, kept = liver_slices(hu, liver, CtRule(size=8))
    assert kept.tolist() == [0, 2]  # slice 1 is black in the liver, slice 3 has none
    assert slices.shape == (2, 1, 8, 8)
    assert slices[0, 0, 3, 3] == 255
    assert slices[1, 0, 3, 3] == 128
    assert slices[:, 0, 0, 0].tolist() == [0, 0]  # outside the liver


def test_the_mean_threshold_is_the_methods_five():
    hu = np.full((2, 10, 10), 250.0, dtype=np.float32)
    liver = np.zeros_like(hu, dtype=np.uint8)
    liver[0, :2, :] = 1  # 20 % of the slice at 255: mean 51
    liver[1, 0, :1] = 1  # one pixel at 255: mean 2.55 < 5
    _, kept = liver_slices(hu, liver, CtRule(size=10))
    assert kept.tolist() == [0]


# ---------------------------------------------------------------- networks


def feature_bags(counts, dim=512, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [{m: torch.randn(n, dim, generator=generator) for m, n in bag.items()} for bag in counts]


@pytest.mark.parametrize(
    ("fusion", "loss", "heads"),
    [
        ("ct", "single", {"joint"}),
        ("he", "single", {"joint"}),
        ("mid", "single", {"joint"}),
        ("mid", "multi", {"joint", "ct", "he"}),
        ("late", "single", {"joint"}),
        ("late", "multi", {"joint", "ct", "he"}),
    ],
)
def test_every_variant_gives_its_heads_and_learns_a_separable_bag_task(fusion, loss, heads):
    torch.manual_seed(0)
    blocks = {m: torch.nn.Identity() for m in ("ct", "he")}
    net = NasNet(blocks, fusion=fusion, loss=loss, classes=3)
    counts = [{"ct": 3 + i % 4, "he": 5 + i % 3} for i in range(12)]
    bags = feature_bags(counts)
    labels = torch.arange(12) % 3
    for bag, label in zip(bags, labels, strict=True):  # the class shifts every instance
        for m in bag:
            bag[m][:, :8] += 2.0 * float(label)
    out = net(bags)
    assert set(out) == heads
    assert all(v.shape == (12, 3) for v in out.values())
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-3)
    first = None
    for _ in range(60):
        optimiser.zero_grad()
        loss_value = bag_loss(net(bags), labels)
        loss_value.backward()
        optimiser.step()
        first = first if first is not None else loss_value.item()
    assert loss_value.item() < 0.5 * first
    assert (net(bags)["joint"].argmax(1) == labels).float().mean() == 1.0


def test_mid_fusion_pools_both_modalities_as_one_bag():
    """Mid fusion: the pooled feature is the mean over all instances of both modalities."""
    torch.manual_seed(0)
    net = NasNet({m: torch.nn.Identity() for m in ("ct", "he")}, fusion="mid", loss="single",
                 classes=2).eval()  # fmt: skip
    bag = feature_bags([{"ct": 2, "he": 6}])[0]
    expected = net.joint(net.classifier(torch.cat([bag["ct"], bag["he"]])).mean(0))
    torch.testing.assert_close(net([bag])["joint"][0], expected)


def test_late_fusion_joins_the_two_pooled_features():
    torch.manual_seed(0)
    net = NasNet({m: torch.nn.Identity() for m in ("ct", "he")}, fusion="late", loss="single",
                 classes=2).eval()  # fmt: skip
    bag = feature_bags([{"ct": 2, "he": 6}])[0]
    pooled = [net.classifiers[m](bag[m]).mean(0) for m in ("ct", "he")]
    torch.testing.assert_close(net([bag])["joint"][0], net.joint(torch.cat(pooled)))
    assert net.joint.in_features == 256


def test_multi_loss_needs_two_modalities():
    with pytest.raises(BadInputError, match="--fusion ct has one modality"):
        check_variant("ct", "multi")


# ---------------------------------------------------------------- a small cohort


def ct_store(path: Path, patient: str, fat: float, seed: int) -> Path:
    """A CT volume whose liver attenuation falls with fat (as steatosis does)."""
    from medtk.datasets import ct_phantom

    hu, liver = ct_phantom(slices=8, size=64, seed=seed, liver_hu=60.0 - 80.0 * fat)
    spacing = (2.5, 0.8, 0.8)
    source = array_source(hu, path=path, axes=("z", "y", "x"), spacing=spacing, unit="mm")
    mask = array_source(liver, path=path, axes=("z", "y", "x"), spacing=spacing, unit="mm")
    options = IngestOptions(workers=1, modality="CT", subject=patient, label_name="liver")
    return write_store(source, path, labels={"liver": mask}, options=options).path


def slide_store(path: Path, patient: str, fat: float, seed: int) -> Path:
    """A pink tissue image at 20× whose share of white round vacuoles grows with fat."""
    rng = np.random.default_rng(seed)
    side = 1024
    rgb = np.empty((3, side, side), dtype=np.uint8)
    base = np.array([200, 120, 170])[:, None, None]
    rgb[:] = np.clip(base + rng.normal(0, 12, (3, side, side)), 0, 255).astype(np.uint8)
    yy, xx = np.mgrid[0:side, 0:side]
    for _ in range(int(400 * fat)):
        cy, cx, r = [*rng.integers(0, side, 2).tolist(), int(rng.integers(6, 14))]
        box = (slice(max(cy - r, 0), cy + r), slice(max(cx - r, 0), cx + r))
        disc = (yy[box] - cy) ** 2 + (xx[box] - cx) ** 2 <= r * r
        for c in range(3):
            rgb[c][box][disc] = 245
    metadata = {"mpp": 0.5, "magnification": 20.0}
    source = array_source(
        rgb, path=path, axes=("c", "y", "x"), spacing=(0.5, 0.5), unit="micrometer",
        metadata=metadata,
    )  # fmt: skip
    options = IngestOptions(workers=1, modality="WSI", subject=patient)
    return write_store(source, path, options=options).path


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    """Twelve patients, steatosis 0 or 3 alternating, two folds, CT and slide stores."""
    folder = tmp_path_factory.mktemp("nas")
    rows = []
    for i in range(12):
        patient = f"P{i + 1:03d}"
        steatosis = 3 if i % 2 else 0
        fat = steatosis / 3
        ct = ct_store(folder / "ct" / f"{patient}.zarr", patient, fat, seed=i)
        he = slide_store(folder / "he" / f"{patient}.zarr", patient, fat, seed=i)
        rows.append({"patient": patient, "steatosis": steatosis, "lobular": i % 3,
                     "ballooning": i % 3, "fibrosis": [0, 1, 3, 4][i % 4],
                     "store_ct": str(ct.relative_to(folder)),
                     "store_wsi": str(he.relative_to(folder)), "fold": (i // 2) % 2})  # fmt: skip
    with (folder / "cohort.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return folder / "cohort.csv"


@pytest.fixture(scope="module")
def bags(cohort) -> Path:
    from medtk.cli.main import main
    from medtk.cli.state import AppState
    from medtk.plugins import load_plugins

    out = cohort.parent / "bags.zarr"
    state = AppState(loader=lambda: load_plugins(entry_points=False, extra=PLUGINS, env={}))
    code = main(["preprocess", "nas-bags", str(cohort), "-o", str(out), "--size", "64"],
                state=state)  # fmt: skip
    assert code == 0
    return out


def test_bags_hold_every_patient_with_scores_folds_and_instances(bags):
    from medtk_nas.bags import BagStore

    store = BagStore.open(bags)
    assert len(store.patients) == 12
    assert store.folds == 2
    assert store.size == 64
    first = store.patients[0]
    assert first.scores == {"fibrosis": 0.0, "steatosis": 0.0, "lobular": 0.0, "ballooning": 0.0}
    ct, he = store.instances(first.id, "ct"), store.instances(first.id, "he")
    assert ct.dtype == np.uint8 and ct.shape[1:] == (1, 64, 64) and len(ct) >= 1
    # 1024 px at 20× is 256 px at 5×: one 224 px patch per slide, resized to 64
    assert he.shape == (1, 3, 64, 64)
    assert store.counts[first.id] == {"ct": len(ct), "he": 1}


def test_training_every_variant_learns_the_encoded_target(cli, bags, tmp_path):
    """Steatosis shows in the slide's vacuoles (and the liver's attenuation): every variant
    with H&E separates it in both folds, from random-init frozen features."""
    for fusion, loss in (("mid", "multi"), ("late", "single"), ("he", "single")):
        run = tmp_path / f"{fusion}-{loss}"
        result = cli(
            "train", "nas", str(bags), "--target", "steatosis", "--fusion", fusion,
            "--loss", loss, "--folds", "2", "--epochs", "8", "--lr", "1e-3", "--batch-size", "2",
            "--train-blocks", "0", "--device", "cpu", "-o", str(run), plugins=PLUGINS,
        )  # fmt: skip
        assert result.code == 0, result.err
        summary = json.loads((run / "summary.json").read_text())
        assert summary["mean_best_val_auc"] >= 0.9, (fusion, loss, summary)
        rows = list(csv.DictReader(io.StringIO((run / "fold-1" / "predictions.csv").read_text())))
        assert len(rows) == 6 and set(rows[0]) == {"patient", "label", "score"}


def test_the_cache_is_computed_once_and_equals_the_trunk(bags):
    from medtk_nas.backbone import fingerprint, resnet18, split
    from medtk_nas.bags import BagStore
    from medtk_nas.cache import feature_cache, read_features, trunk_features

    store = BagStore.open(bags)
    trunk, _ = split(resnet18(seed=0), 1)
    key = fingerprint(trunk, store.size)
    items = list(store.items(("ct",)))[:2]
    cache = feature_cache(bags, key + "t", trunk, items, torch.device("cpu"), total=2)
    patient = items[0][0]
    cached = read_features(cache, patient, "ct")
    direct = trunk_features(trunk.eval(), store.instances(patient, "ct"), torch.device("cpu"))
    assert cached.dtype == np.float16 and cached.shape[1] == 256
    np.testing.assert_array_equal(cached, direct)
    # a second call finds it and computes nothing (no items to read)
    assert feature_cache(bags, key + "t", trunk, [], torch.device("cpu")) == cache
    assert not any(p.name.endswith(".partial") for p in (bags / "features").iterdir())


def test_the_study_table_gathers_runs_by_target_and_variant(cli, bags, tmp_path):
    study = tmp_path / "study"
    for variant, fusion in (("ct", "ct"), ("mid-single", "mid")):
        result = cli(
            "train", "nas", str(bags), "--target", "steatosis", "--fusion", fusion,
            "--folds", "2", "--epochs", "2", "--train-blocks", "0", "--device", "cpu",
            "-o", str(study / "steatosis" / variant), plugins=PLUGINS,
        )  # fmt: skip
        assert result.code == 0, result.err
    result = cli("evaluate", "nas", str(study), "--bootstrap", "50", plugins=PLUGINS)
    assert result.code == 0, result.err
    out = Path(result.out.strip())
    table = list(csv.reader(io.StringIO((out / "table.csv").read_text())))
    assert table[0] == ["model", "steatosis"]
    assert [row[0] for row in table[1:]] == ["CT", "Mid fusion, single loss"]
    assert all(" ± " in row[1] for row in table[1:])
    assert (out / "table.md").read_text().count("|") > 6
    assert (out / "auc_folds.png").stat().st_size > 0
    assert (out / "steatosis" / "ct" / "metrics.json").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fusion", "early"], "--fusion"),
        (["--loss", "both"], "--loss"),
        (["--fusion", "he", "--loss", "multi"], "--fusion he has one modality"),
        (["--target", "grade"], "--target"),
        (["--merge", "0|1-9|3"], "groups overlap"),
        (["--folds", "3"], "the bags hold 2 folds"),
        (["--bn-stats", "imagenet"], "--bn-stats"),
    ],
)
def test_bad_options_exit_2_with_one_line(cli, bags, tmp_path, args, message):
    run = tmp_path / "run"
    result = cli("train", "nas", str(bags), "-o", str(run), "--epochs", "1",
                 "--train-blocks", "0", *args, plugins=PLUGINS)  # fmt: skip
    assert result.code == 2, result.err
    assert len(result.err_lines) == 1 or message == "the bags hold 2 folds"
    assert message in result.err
    assert not run.exists()


def test_bags_from_a_table_without_stores_is_refused(cli, tmp_path):
    table = tmp_path / "labels.csv"
    table.write_text("patient,steatosis,lobular,ballooning,fibrosis,fold\nP1,0,0,0,0,0\n")
    result = cli("preprocess", "nas-bags", str(table), "-o", str(tmp_path / "b.zarr"),
                 plugins=PLUGINS)  # fmt: skip
    assert result.code == 2
    assert "names no stores" in result.err
    assert not (tmp_path / "b.zarr").exists()


def test_bags_store_layout_is_plain_zarr(bags):
    group = zarr.open_group(str(bags), mode="r")
    info = dict(group.attrs)["medtk"]["nas_bags"]
    assert info["ct"] == {"hu": [-200.0, 250.0], "min_mean": 5.0}
    assert info["he"]["magnification"] == 5.0


# ---------------------------------------------------------------- batch-norm statistics


def test_adapted_batchnorm_holds_the_statistics_of_the_instances():
    from medtk_nas.backbone import adapt_batchnorm, resnet18

    model = resnet18(seed=0).eval()
    weights = {k: v.clone() for k, v in model.state_dict().items() if "running" not in k}
    images = torch.rand(12, 3, 32, 32) * 3 + 1
    adapt_batchnorm(model, images.split(4))  # the average of three batches of four
    with torch.no_grad():
        first = model.conv1(images)
    torch.testing.assert_close(model.bn1.running_mean, first.mean((0, 2, 3)), rtol=1e-4, atol=1e-5)
    assert model.bn1.momentum == 0.1 and not model.training
    changed = [k for k, v in model.state_dict().items() if k in weights and not v.equal(weights[k])]
    assert changed == [] or all("num_batches" in k for k in changed)
    # a random network's pooled features then spread over instances far more than before
    with torch.no_grad():
        adapted = model(images).std(0).mean() / model(images).abs().mean()
        fresh = resnet18(seed=0).eval()
        raw = fresh(images).std(0).mean() / fresh(images).abs().mean()
    assert adapted > 2 * raw


def test_each_modality_gets_its_own_statistics_once(bags):
    from medtk_nas.bags import BagStore
    from medtk_nas.options import NasOptions
    from medtk_nas.training import trunk_and_blocks

    store = BagStore.open(bags)
    config = NasOptions(bags=bags, train_blocks=1, device="cpu")
    trunks, blocks = trunk_and_blocks(config, store, ("ct", "he"))
    ct_mean = trunks["ct"][2].running_mean  # the stem's batch norm, after Normalise and conv1
    assert not torch.equal(ct_mean, trunks["he"][2].running_mean)
    assert not torch.equal(ct_mean, torch.zeros_like(ct_mean))
    # the trainable stage starts from its modality's statistics too
    assert not torch.equal(blocks["ct"][0][0].bn1.running_mean, blocks["he"][0][0].bn1.running_mean)
    saved = sorted(p.name for p in (bags / "features").glob("batchnorm-*.safetensors"))
    assert [name.rsplit("-", 1)[1] for name in saved] == ["ct.safetensors", "he.safetensors"]
    again, _ = trunk_and_blocks(config, store, ("ct",))  # read back, not measured again
    torch.testing.assert_close(again["ct"].state_dict(), trunks["ct"].state_dict())
    # ImageNet-style weights keep their own statistics unless asked
    kept = NasOptions(bags=bags, train_blocks=1, device="cpu", bn_stats="weights")
    plain, _ = trunk_and_blocks(kept, store, ("ct",))
    assert torch.equal(plain["ct"][2].running_mean, torch.zeros(64))


def test_feature_norm_takes_a_single_instance_in_training():
    from medtk_nas.models import InstanceClassifier

    classifier = InstanceClassifier(norm=True).train()
    assert classifier(torch.randn(1, 512)).shape == (1, 128)
    assert classifier(torch.randn(0, 512)).shape == (0, 128)
    assert classifier(torch.randn(6, 512)).shape == (6, 128)


def test_modalities_with_equal_trunks_each_get_their_features(bags):
    """With the weights' own statistics both modalities' trunks are equal; each modality
    still gets (and reads back) its own cached features."""
    from medtk_nas.bags import BagStore
    from medtk_nas.options import NasOptions
    from medtk_nas.training import feature_source, trunk_and_blocks
    from rich.console import Console

    from medtk.tasks import TaskContext

    store = BagStore.open(bags)
    config = NasOptions(bags=bags, train_blocks=1, device="cpu", bn_stats="weights")
    ctx = TaskContext(registries=None, console=Console(stderr=True), verb="train", task="nas")
    trunks, _ = trunk_and_blocks(config, store, ("ct", "he"))
    features = feature_source(config, ctx, store, trunks)
    patient = store.patients[0].id
    for modality in ("ct", "he"):
        assert len(features(patient, modality)) == store.counts[patient][modality]
