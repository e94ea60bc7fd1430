"""The experiments runner (TOML) and the command line."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from haowurank import studies as X
from haowurank.cli import main

TINY = textwrap.dedent(
    """
    name = "tiny"
    description = "a tiny synthetic world"
    notes = "written by the test suite"

    [dataset]
    name = "synthetic"
    params = {n_users = 300, n_items = 120, seed = 3}

    [split]
    test_fraction = 0.2
    seed = 0
    validation_fraction = 0.25
    validation_seed = 1

    [evaluation]
    k = [5, 10]
    metric = "NDCG@10"

    [target]
    metric = "NDCG@10"
    ratio = 1.05

    [[strategies]]
    name = "popularity"
    peer = true

    [[strategies]]
    name = "trust"
    label = "trust (1 hop)"
    params = {max_hops = 1}

    [[strategies]]
    name = "trust"
    grid = {trust_weight = [0.0, 0.5], max_hops = [2]}
    """
)


@pytest.fixture()
def tiny_toml(tmp_path):
    p = tmp_path / "tiny.toml"
    p.write_text(TINY)
    return p


def test_config_round_trip(tiny_toml):
    cfg = X.load_config(tiny_toml)
    assert cfg.dataset.params["n_users"] == 300 and cfg.evaluation.k == [5, 10]
    assert [s.display for s in cfg.strategies] == ["popularity", "trust (1 hop)", "trust"]
    again = X.ExperimentConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again.to_dict() == cfg.to_dict()


@pytest.mark.parametrize(
    "patch, match",
    [
        ({"dataset": {"name": "nope"}}, "dataset 'name'"),
        ({"split": {"method": "temporal"}}, "split 'method'"),
        ({"preprocess": {"k_core": -1}}, "k_core"),
        ({"evaluation": {"bogus": 1}}, "Unknown key"),
        ({"strategies": []}, "at least one"),
    ],
)
def test_config_errors(patch, match):
    raw = {"name": "x", "strategies": [{"name": "popularity"}], **patch}
    with pytest.raises(ValueError, match=match):
        X.ExperimentConfig.from_dict(raw)


def test_runner_writes_report(tiny_toml, tmp_path, monkeypatch):
    calls = []
    from haowurank.studies import _runner

    real_tune = _runner.tune

    def spy(name, grid, fit_ds, val_ds, *a, **kw):
        calls.append((fit_ds, val_ds))
        return real_tune(name, grid, fit_ds, val_ds, *a, **kw)

    monkeypatch.setattr(_runner, "tune", spy)  # the runner's own reference
    out = tmp_path / "results"
    res = X.run_experiment(tiny_toml, out_dir=out, command="pytest tiny", show_progress=False)
    assert sorted(p.split("/")[-1] for p in res.files) == ["tiny.csv", "tiny.md", "tiny.tuning.csv"]
    table = pd.read_csv(out / "tiny.csv")
    assert list(table["strategy"]) == ["popularity", "trust (1 hop)", "trust"]
    for col in ("NDCG@10", "Recall@5", "Coverage@10", "Gini@10", "fit_s", "users_per_s",
                "cold_NDCG@10", "NDCG@10 / best peer", "params"):
        assert col in table
    assert table.loc[0, "NDCG@10 / best peer"] == pytest.approx(1.0)
    # one strategy had a grid of two points: tuned on fit/val carved from train, never on test
    assert len(calls) == 1
    fit_ds, val_ds = calls[0]
    assert fit_ds.meta["split"]["part"] == "fit" and val_ds.meta["split"]["part"] == "val"
    tuning = pd.read_csv(out / "tiny.tuning.csv")
    assert len(tuning) == 2 and tuning["best"].sum() == 1
    best = json.loads(table.loc[2, "params"])
    assert best["max_hops"] == 2 and best["trust_weight"] in (0.0, 0.5)
    md = (out / "tiny.md").read_text()
    for needle in ("Command: `pytest tiny`", "Date:", "Machine:", "per-user random holdout",
                   "all training items", "Chosen hyperparameters", "Cold-start", "Targets",
                   "written by the test suite"):
        assert needle in md
    assert res.best_params["trust (1 hop)"] == {"max_hops": 1}


def test_runner_strategy_filter(tiny_toml):
    res = X.run_experiment(tiny_toml, strategies=["popularity"], write=False, show_progress=False)
    assert list(res.table["strategy"]) == ["popularity"] and res.files == []
    with pytest.raises(ValueError, match="not in the experiment"):
        X.run_experiment(tiny_toml, strategies=["nope"], write=False, show_progress=False)


def test_cli_compare_prints_table(capsys):
    rc = main(["compare", "--dataset", "synthetic", "--n-users", "300", "--n-items", "120",
               "--strategies", "popularity", "trust", "--k", "5", "10", "--no-progress"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "| strategy | Recall@5 | Recall@10 | NDCG@5 | NDCG@10 |" in out
    lines = [ln for ln in out.splitlines() if ln.startswith("| popularity")]
    assert len(lines) == 2  # main table and cold-start table
    assert "| trust |" in out and "NDCG@10" in out and "cold-start users" in out


def test_cli_run_writes(tiny_toml, tmp_path, capsys):
    out_dir = tmp_path / "r"
    rc = main(["run", str(tiny_toml), "--strategies", "popularity", "--out-dir", str(out_dir),
               "--no-progress"])
    assert rc == 0 and (out_dir / "tiny.md").is_file()
    md = (out_dir / "tiny.md").read_text()
    assert f"haowurank run {tiny_toml}" in md
    assert "wrote" in capsys.readouterr().out


def test_cli_module_entry_point():
    out = subprocess.run(
        [sys.executable, "-m", "haowurank.cli", "strategies"], capture_output=True, text=True,
        timeout=120, check=True,
    ).stdout.split()
    assert out[0] == "popularity" and "trust" in out


def test_cli_bad_arguments(capsys):
    with pytest.raises(SystemExit):
        main(["compare", "--dataset", "nope"])
    with pytest.raises(SystemExit, match="unknown strategies"):
        main(["compare", "--dataset", "synthetic", "--strategies", "nope", "--no-progress"])


def test_runner_reuse_and_failures(tiny_toml, tmp_path):
    out = tmp_path / "res"
    X.run_experiment(tiny_toml, out_dir=out, strategies=["popularity"], show_progress=False)
    res = X.run_experiment(tiny_toml, out_dir=out, strategies=["trust (1 hop)"], reuse=True,
                           show_progress=False)
    assert list(res.table["strategy"]) == ["popularity", "trust (1 hop)"]
    assert res.reused == ["popularity"]
    md = (out / "tiny.md").read_text()
    assert "Reused rows" in md and "- popularity: run at" in md

    cfg = X.load_config(tiny_toml)
    cfg.strategies = [X.StrategyConfig(name="popularity", peer=True),
                      X.StrategyConfig(name="ease", params={"max_items": 10})]
    res = X.run_experiment(cfg, out_dir=out, show_progress=False)
    assert "max_items" in res.table.loc[1, "error"]
    assert res.table.loc[0, "NDCG@10"] > 0
    assert "## Failures" in (out / "tiny.md").read_text()


def test_runner_skips_a_peer_that_is_not_installed(tiny_toml, caplog):
    cfg = X.load_config(tiny_toml).to_dict()
    cfg["strategies"] = [{"name": "popularity"}, {"name": "not_installed_peer", "peer": True}]
    with caplog.at_level("WARNING", logger="haowurank.studies"):
        res = X.run_experiment(X.ExperimentConfig.from_dict(cfg), write=False,
                               show_progress=False)
    assert list(res.table["strategy"]) == ["popularity"]
    assert "not_installed_peer" in caplog.text and "not installed" in caplog.text
    cfg["strategies"] = [{"name": "popularity"}, {"name": "not_installed_peer"}]
    with pytest.raises(ValueError, match="Unknown strategies"):  # a non-peer is a typo: raise
        X.run_experiment(X.ExperimentConfig.from_dict(cfg), write=False, show_progress=False)


def test_cost_ratios_are_claimed_only_when_timed_in_one_run(tiny_toml, tmp_path):
    cfg = X.load_config(tiny_toml)
    cfg.strategies = [X.StrategyConfig(name="trust"),
                      X.StrategyConfig(name="als", peer=True,
                                       params={"factors": 4, "iterations": 2})]
    cfg.target = X.TargetConfig(metric="NDCG@10", ratio=1.05, max_fit_ratio=5.0,
                                min_throughput_ratio=0.7)  # the cost bars come from the config
    out = tmp_path / "res"
    X.run_experiment(cfg, out_dir=out, show_progress=False)
    md = (out / "tiny.md").read_text()
    assert "(limit 5x:" in md and "(target >= 0.7x:" in md and "different runs" not in md
    res = X.run_experiment(cfg, out_dir=out, strategies=["trust"], reuse=True,
                           show_progress=False)
    md = (out / "tiny.md").read_text()
    assert "different run" in md and "(limit 5x:" not in md
    # the table gives no ratio for the row timed in another run than ALS's
    t = res.table.set_index("strategy")
    assert np.isnan(t.loc["trust", "fit_s / ALS"]) and np.isnan(t.loc["trust", "users_per_s / ALS"])
    assert t.loc["als", "fit_s / ALS"] == 1.0


def test_runner_staged_search(tiny_toml, tmp_path):
    cfg = X.load_config(tiny_toml)
    stages = [
        {"regularization": [0.01, 1.0]},
        # centred on the stage-0 pick: factors 4 -> 4, 8; regularisation x0.5, x2
        {"factors": {"times": [1, 2]}, "regularization": {"times": [0.5, 2.0]}},
    ]
    cfg.strategies = [X.StrategyConfig(name="als", peer=True, stages=stages,
                                       params={"factors": 4, "iterations": 2})]
    out = tmp_path / "res"
    res = X.run_experiment(cfg, out_dir=out, show_progress=False)
    tuning = pd.read_csv(out / "tiny.tuning.csv")
    assert list(tuning["stage"].value_counts().sort_index()) == [2, 4]
    s0 = tuning[tuning["stage"] == 0]
    reg0 = float(s0.loc[s0["NDCG@10"].idxmax(), "param:regularization"])
    s1 = tuning[tuning["stage"] == 1]
    assert sorted(s1["param:factors"].unique()) == [4, 8]
    assert sorted(s1["param:regularization"].unique()) == pytest.approx([reg0 * 0.5, reg0 * 2.0])
    assert tuning["best"].sum() == 1
    best_row = tuning[tuning["best"]].iloc[0]
    assert best_row["NDCG@10"] == tuning["NDCG@10"].max()
    chosen = res.best_params["als"]
    assert chosen["regularization"] == pytest.approx(best_row["param:regularization"])
    assert chosen["iterations"] == 2
    row = res.table.iloc[0]
    assert int(row["grid_points"]) == 6
    assert row["val_NDCG@10"] == pytest.approx(tuning["NDCG@10"].max(), abs=1e-5)
    assert "in stages" in (out / "tiny.md").read_text()
    assert X._runner._stage_grid({"alpha": {"times": [0.8]}, "K": {"times": [0.5]}},
                                 {"alpha": 0.8, "K": 7}, "here") == {"alpha": [0.64], "K": [4]}


def test_runner_staged_search_errors(tiny_toml):
    base = {"name": "x", "strategies": [{"name": "als"}]}
    bad = [
        ({"grid": {"factors": [4]}, "stages": [{"factors": [8]}]}, "both 'grid' and 'stages'"),
        ({"stages": []}, "non-empty list"),
        ({"stages": [{"factors": {"times": [0]}}]}, "positive numbers"),
        ({"stages": [{"factors": {"plus": [1]}}]}, "times"),
        ({"stages": [{"factors": "8"}]}, "non-empty list of values"),
    ]
    for patch, match in bad:
        raw = {**base, "strategies": [{"name": "als", **patch}]}
        with pytest.raises(ValueError, match=match):
            X.ExperimentConfig.from_dict(raw)
    cfg = X.load_config(tiny_toml)
    # `times` needs a value to scale: none in params or an earlier stage -> the row's error
    cfg.strategies = [X.StrategyConfig(name="als", peer=True, params={"iterations": 2},
                                       stages=[{"alpha": {"times": [1.0, 2.0]}}])]
    res = X.run_experiment(cfg, write=False, show_progress=False)
    assert "scales the value" in res.table.iloc[0]["error"]


def test_reused_rows_take_peer_from_the_configuration(tiny_toml, tmp_path):
    out = tmp_path / "res"
    X.run_experiment(tiny_toml, out_dir=out, show_progress=False)
    cfg = X.load_config(tiny_toml)
    cfg.strategies[1].peer = True  # "trust (1 hop)" became a peer after its row was written
    res = X.run_experiment(cfg, out_dir=out, strategies=["popularity"], reuse=True,
                           show_progress=False)
    t = res.table.set_index("strategy")
    assert bool(t.loc["trust (1 hop)", "peer"]) and "trust (1 hop)" in res.reused
