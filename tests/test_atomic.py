"""Outputs appear whole or not at all."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from medtk.atomic import check_new_output, written_aside
from medtk.config import TaskConfig
from medtk.errors import BadInputError
from medtk.runs import CONFIG_FILE, SUMMARY_FILE, create_run


class Options(TaskConfig):
    epochs: int = 3


def test_a_file_appears_only_after_the_block_succeeds(tmp_path):
    out = tmp_path / "sub" / "pred.csv"
    with written_aside(out) as target:
        target.write_text("0.5\n")
        assert not out.exists()
        assert target.parent.name.startswith(".pred.csv.partial-")
    assert out.read_text() == "0.5\n"
    assert sorted(p.name for p in out.parent.iterdir()) == ["pred.csv"]


def test_a_failure_leaves_nothing_behind(tmp_path):
    out = tmp_path / "pred.csv"
    with pytest.raises(ZeroDivisionError), written_aside(out) as target:
        target.write_text("half")
        _ = 1 / 0
    assert list(tmp_path.iterdir()) == []


def test_an_interrupt_leaves_nothing_behind(tmp_path):
    with pytest.raises(KeyboardInterrupt), written_aside(tmp_path / "d", directory=True) as work:
        (work / "part").write_text("x")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_existing_output_is_refused_unless_overwrite(tmp_path):
    out = tmp_path / "pred.csv"
    out.write_text("old")
    with pytest.raises(BadInputError, match="already exists"), written_aside(out):
        pass
    with written_aside(out, overwrite=True) as target:
        target.write_text("new")
    assert out.read_text() == "new"


def test_overwriting_a_folder_keeps_the_old_one_until_the_new_one_is_complete(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with pytest.raises(RuntimeError), written_aside(out, overwrite=True, directory=True) as work:
        (work / "new.txt").write_text("new")
        raise RuntimeError
    assert sorted(p.name for p in out.iterdir()) == ["old.txt"]
    with written_aside(out, overwrite=True, directory=True) as work:
        (work / "new.txt").write_text("new")
    assert sorted(p.name for p in out.iterdir()) == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_a_finished_folder_gets_the_usual_permissions(tmp_path):
    with written_aside(tmp_path / "run", directory=True):
        pass
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE((tmp_path / "run").stat().st_mode) == 0o777 & ~mask


def test_create_run_saves_the_resolved_config_and_a_summary(tmp_path):
    with create_run(tmp_path / "run", config=Options(epochs=5), invocation="medtk train t") as run:
        run.write_summary({"auc": 0.9})
        assert run.final_path == tmp_path / "run"
    config = (tmp_path / "run" / CONFIG_FILE).read_text()
    assert config.startswith("# medtk train t · medtk ")
    assert "epochs: 5" in config
    summary = json.loads((tmp_path / "run" / SUMMARY_FILE).read_text())
    assert summary["auc"] == 0.9
    assert {"medtk_version", "finished"} <= set(summary)


@given(st.binary(max_size=2048), st.booleans())
def test_contents_arrive_intact_or_not_at_all(tmp_path_factory, payload, fail):
    folder = tmp_path_factory.mktemp("atomic")
    out = folder / "blob.bin"
    try:
        with written_aside(out) as target:
            target.write_bytes(payload)
            if fail:
                raise ValueError
    except ValueError:
        pass
    if fail:
        assert list(folder.iterdir()) == []
    else:
        assert out.read_bytes() == payload


def test_overwrite_never_replaces_a_folder_with_a_file(tmp_path):
    folder = tmp_path / "precious"
    folder.mkdir()
    (folder / "important.txt").write_text("keep")
    with pytest.raises(BadInputError, match="is a folder"), written_aside(folder, overwrite=True):
        pass
    assert (folder / "important.txt").read_text() == "keep"


def test_overwrite_never_replaces_a_file_with_a_folder(tmp_path):
    afile = tmp_path / "points.csv"
    afile.write_text("1,2\n")
    with (
        pytest.raises(BadInputError, match="is a file"),
        written_aside(afile, overwrite=True, directory=True),
    ):
        pass
    assert afile.read_text() == "1,2\n"


@pytest.mark.parametrize("relative", [".", ".."])
def test_the_working_folder_is_never_replaced(tmp_path, monkeypatch, relative):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    with (
        pytest.raises(BadInputError, match="working folder"),
        written_aside(Path(relative), overwrite=True, directory=True),
    ):
        pass
    assert work.is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["work"]


def test_the_check_fails_before_any_work(tmp_path):
    (tmp_path / "run").mkdir()
    with pytest.raises(BadInputError):
        check_new_output(tmp_path / "run")
    check_new_output(tmp_path / "run", overwrite=True, directory=True)
    check_new_output(tmp_path / "new")
