"""The dataset registry, the one data-root lookup, data/README.md and data/default_world.toml."""

from __future__ import annotations

import argparse
import ast
import re
from pathlib import Path

import pytest

import haowurank as hr
from haowurank import cli, report, studies
from haowurank.datasets import registry

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "data" / "README.md"
WORLD = ROOT / "data" / "default_world.toml"


def _readme_rows() -> dict[str, list[str]]:
    rows = {}
    for line in README.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) == 9 and cells[0] not in ("name", "---"):
            rows[cells[0]] = cells
    return rows


def test_readme_table_equals_the_registry():
    rows = _readme_rows()
    assert list(rows) == list(registry.DATASETS)
    for name, info in registry.DATASETS.items():
        _, folder, loader, users, items, inter, social, ts, _cite = rows[name]
        assert (folder, loader) == (info.folder, info.loader)
        assert [int(users), int(items), int(inter), int(social)] == [
            info.users, info.items, info.interactions, info.social]
        assert ts == ("yes" if info.timestamps else "no")


def test_every_registered_loader_exists_and_folders_are_unique():
    for info in registry.DATASETS.values():
        assert callable(getattr(hr.datasets, info.loader))
        assert info.loader == f"load_{info.name}"
        assert info.citation
    names = [f for d in registry.DATASETS.values() for f in d.folder_names]
    assert len(names) == len(set(names))
    assert registry.DATASET_FOLDERS == {n: d.folder for n, d in registry.DATASETS.items()}


def test_default_world_file_equals_the_library_defaults():
    assert registry.DEFAULT_WORLD_FILE == WORLD
    from_file = registry.read_world(WORLD)
    size = {k: v for k, v in registry.DEFAULT_WORLD.items() if k != "seed"}
    knobs = hr.datasets.SyntheticWorld(**size).to_dict()
    expected = {k: tuple(v) if isinstance(v, list) else v for k, v in knobs.items()
                if v is not None}
    assert from_file == {"seed": registry.DEFAULT_WORLD["seed"], **expected}
    # every knob of the world is named in the file, the computed ones in its comments
    text = WORLD.read_text()
    for name in knobs:
        assert name in text


def test_default_world_file_builds_the_demo_world():
    small = {**registry.read_world(WORLD), "n_users": 120, "n_items": 60}
    a = hr.datasets.synthetic(**small)
    b = hr.datasets.synthetic(n_users=120, n_items=60, seed=registry.DEFAULT_WORLD["seed"])
    assert a.interactions.equals(b.interactions)
    assert a.social.equals(b.social)


def test_read_world_rejects_unknown_sections(tmp_path):
    p = tmp_path / "w.toml"
    p.write_text("seed = 1\n[worlds]\nn_users = 10\n")
    with pytest.raises(ValueError, match=r"only 'seed' and a \[world\] table. Got \['worlds'\]"):
        registry.read_world(p)
    p.write_text("seed = = 1\n")
    with pytest.raises(ValueError, match="not valid TOML"):
        registry.read_world(p)


def test_data_root_env_first(monkeypatch, tmp_path):
    monkeypatch.setenv("HAOWURANK_DATA", str(tmp_path))
    assert registry.data_root() == tmp_path
    assert registry.dataset_path("ciao") == tmp_path / "ciao"
    with pytest.raises(FileNotFoundError, match=r"'ciao' is not at .*HAOWURANK_DATA"):
        registry.dataset_path("ciao", must_exist=True)


def test_data_root_without_env_is_beside_the_repository(monkeypatch, tmp_path):
    monkeypatch.delenv("HAOWURANK_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    beside = ROOT.parent / "shared" / "data"
    if beside.is_dir():
        assert registry.data_root() == beside
    else:
        (tmp_path / "shared" / "data").mkdir(parents=True)
        (tmp_path / "sub").mkdir()
        monkeypatch.chdir(tmp_path / "sub")
        assert registry.data_root() == (tmp_path / "shared" / "data").resolve()


def test_unknown_dataset_name():
    with pytest.raises(KeyError, match=r"Unknown data set 'movielens'; the registry knows"):
        registry.dataset_path("movielens")
    with pytest.raises(TypeError, match="must be a str"):
        registry.dataset_path(3)


@pytest.mark.parametrize(("folder", "name"), [
    ("../shared/data/lastfm-hetrec2011", "lastfm"), ("/x/hetrec2011-lastfm-2k", "lastfm"),
    ("/x/ciao", "ciao"), ("/x/CiaoDVD", "ciaodvd"), ("/x/ciao-dvd", "ciaodvd"),
    ("/x/epinions-2024", "epinions"), ("filmtrust", "filmtrust"),
])
def test_dataset_for_folder(folder, name):
    assert registry.dataset_for_folder(folder) == name
    assert report.loader_for_folder(folder) == name


def test_dataset_for_folder_unknown():
    with pytest.raises(ValueError, match="Cannot tell which loader reads the folder '/x/movielens'"):
        registry.dataset_for_folder("/x/movielens")


def test_one_registry_and_one_lookup():
    """No second copy of the folder table or of the data-root lookup in the library."""
    assert report.data_root is registry.data_root
    assert not hasattr(report, "DATASET_FOLDERS")
    assert not hasattr(studies, "DATASET_FOLDERS")
    offenders = []
    for path in [*(ROOT / "haowurank").rglob("*.py"), *(ROOT / "apps").rglob("*.py"),
                 ROOT / "tests" / "conftest.py", *(ROOT / "notebooks").glob("0*.py"),
                 *(ROOT / "experiments").rglob("*.py")]:
        if path.name == "registry.py":
            continue
        text = path.read_text()
        tree = ast.parse(text)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and node.value == "HAOWURANK_DATA":
                offenders.append(str(path.relative_to(ROOT)))
        if re.search(r'"shared"\s*/\s*"data"', text):
            offenders.append(str(path.relative_to(ROOT)))
    # tests may set the variable for a subprocess (monkeypatch.setenv) but never read it
    assert offenders == [], f"data-root lookups outside the registry: {offenders}"


def test_cli_world_option(tmp_path):
    p = tmp_path / "w.toml"
    p.write_text("seed = 3\n[world]\nn_users = 150\nn_items = 80\nhomophily = 0.5\n")
    ns = cli._parser().parse_args(["compare", "--dataset", "synthetic", "--world", str(p)])
    cfg = cli.build_compare_config(ns)
    assert cfg.dataset.params == {"seed": 3, "n_users": 150, "n_items": 80, "homophily": 0.5}
    ns = cli._parser().parse_args(["compare", "--dataset", "synthetic"])
    assert cli.build_compare_config(ns).dataset.params == registry.DEFAULT_WORLD
    ns = cli._parser().parse_args(["compare", "--dataset", "ciao", "--world", str(p)])
    with pytest.raises(SystemExit, match="--world describes a synthetic world"):
        cli.build_compare_config(ns)
    assert isinstance(ns, argparse.Namespace)


@pytest.mark.data
@pytest.mark.parametrize("name", list(registry.DATASETS))
def test_source_md_states_the_registered_counts(name):
    folder = registry.dataset_path(name)
    if not folder.is_dir():
        pytest.skip(f"{name} not found at {folder}")
    info = registry.DATASETS[name]
    text = (folder / "SOURCE.md").read_text()
    for n in (info.users, info.items, info.interactions, info.social):
        assert f"{n:,}" in text, f"{name}: {n:,} is not in its SOURCE.md"


@pytest.mark.data
@pytest.mark.filterwarnings("ignore:interactions. merged")
@pytest.mark.parametrize("name", ["lastfm", "filmtrust"])
def test_registry_load_matches_counts(name):
    folder = registry.dataset_path(name)
    if not folder.is_dir():
        pytest.skip(f"{name} not found at {folder}")
    ds = registry.load(name)
    info = registry.DATASETS[name]
    assert ds.n_items == info.items
    assert ds.interactions["user"].nunique() == info.users
