"""`scalefit report` writes every figure and table of the paper, and the tables hold their
defining identities."""

import numpy as np
import pandas as pd
import pytest

from tests.test_cli import run_cli

FIGURES = ["figure1_fits", "figure2_model_selection", "figure3_decomposition",
           "figure4_validation", "figure5_bootstrap", "figure6_design", "figure7_per_benchmark"]
TABLES = ["table1_model_selection", "table2_decomposition"]


@pytest.fixture(scope="module")
def report(tmp_path_factory, paper_csv):
    out = tmp_path_factory.mktemp("report")
    proc = run_cli("report", paper_csv, "--out", out, "--bootstrap", 200, "--validation", 8,
                   "--no-posterior", "--workers", 1, "--quiet", "--benchmarks-from",
                   paper_csv.parent / "opsd_qwen3_zhao2026.csv")
    assert proc.returncode == 0, proc.stderr
    return out


def test_every_figure_and_table_is_written(report):
    for name in FIGURES:
        for ext in ("png", "pdf"):
            assert (report / f"{name}.{ext}").stat().st_size > 5000, name
    for name in TABLES:
        assert (report / f"{name}.csv").exists() and (report / f"{name}.md").exists()
    index = (report / "index.md").read_text()
    assert all(name in index for name in FIGURES + TABLES)
    assert not list(report.glob("*.tmp*")) and not list(report.glob(".*"))


def test_table1_is_the_paper_table(report):
    t1 = pd.read_csv(report / "table1_model_selection.csv").set_index("law")
    assert t1["weight"].sum() == pytest.approx(1.0, abs=1e-9)
    np.testing.assert_allclose(t1.loc[["power", "saturating", "sigmoid", "sqrt_log",
                                       "logarithmic"], "weight"],
                               [0.338, 0.309, 0.162, 0.159, 0.032], atol=5e-4)
    np.testing.assert_allclose(t1["aic"], t1["chi2"] + 2 * t1["k"], rtol=1e-12)


def test_table2_components_sum_to_total(report):
    t2 = pd.read_csv(report / "table2_decomposition.csv")
    comp = t2[["distribution_match", "dark_knowledge", "regularization"]].sum(axis=1)
    np.testing.assert_allclose(comp, t2["total"], rtol=1e-9, atol=1e-9)
    assert list(t2["size"]) == [0.5, 1.0, 8.0, 70.0, 405.0]


def test_multi_group_table_refused_in_one_line(tmp_path, paper_csv):
    proc = run_cli("report", paper_csv.parent / "opsd_qwen3_zhao2026.csv", "--out", tmp_path)
    assert proc.returncode == 2 and "--benchmark" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
