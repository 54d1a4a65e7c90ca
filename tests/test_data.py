"""The gain-table loader: aliases, units, accuracy tables, and one-line errors naming row and column."""

import numpy as np
import pandas as pd
import pytest

from scalefit.data import load_gain_table
from scalefit.errors import DataError

GOOD = "size_b,gain,se\n0.5,1.2,0.4\n1,2.1,0.3\n2,3.5,0.4\n"


def test_bundled_paper_table(paper_csv):
    t = load_gain_table(paper_csv)
    np.testing.assert_array_equal(t.size, [0.5, 1, 2, 4, 8])
    np.testing.assert_array_equal(t.value, [1.2, 2.1, 3.5, 5.4, 8.0])
    np.testing.assert_array_equal(t.se, [0.4, 0.3, 0.4, 0.5, 0.6])
    assert t.size_unit == "B" and t.benchmark is None


@pytest.mark.parametrize("header,unit,factor", [
    ("size,gain,se", "B", 1.0),
    ("Size (B),Gain (pp),SE (pp)", "B", 1.0),
    ("size_b,gain_pp,se_pp", "B", 1.0),
    ("size_m,delta,stderr", "M", 1.0),
    ("params_k,improvement,sigma", "K", 1.0),
    ("params,gain,se", "B", 1e-9),  # raw counts are converted to billions
])
def test_column_aliases_and_units(write_csv, header, unit, factor):
    t = load_gain_table(write_csv(header + "\n2,1.0,0.1\n4,2.0,0.2\n"))
    assert t.size_unit == unit
    np.testing.assert_allclose(t.size, np.array([2.0, 4.0]) * factor)
    np.testing.assert_allclose(t.value, [1.0, 2.0])


def test_size_unit_flag_applies_to_unitless_column(write_csv):
    assert load_gain_table(write_csv(GOOD.replace("size_b", "size")), size_unit="M").size_unit == "M"
    with pytest.raises(DataError, match="unit B.*M was requested"):
        load_gain_table(write_csv(GOOD), size_unit="M")


@pytest.mark.parametrize("text,fragment", [
    ("size_b,gain\n1,2\n", "missing the standard error column"),
    ("gain,se\n1,2\n", "missing the size column"),
    ("size_b,gain,se\n1,2,0.1\n2,abc,0.1\n", "row 2 (line 3), column 'gain': 'abc' is not a number"),
    ("size_b,gain,se\n1,2,0.1\n2,,0.1\n", "row 2 (line 3), column 'gain': empty or NaN"),
    ("size_b,gain,se\n1,2,0.1\n2,NaN,0.1\n", "row 2 (line 3), column 'gain': empty or NaN"),
    ("size_b,gain,se\n1,2,0.1\n2,inf,0.1\n", "row 2 (line 3), column 'gain': 'inf' is infinite"),
    ("size_b,gain,se\n0,2,0.1\n", "row 1 (line 2), column 'size_b': size must be > 0"),
    ("size_b,gain,se\n1,2,0.1\n-2,3,0.1\n", "row 2 (line 3), column 'size_b': size must be > 0"),
    ("size_b,gain,se\n1,2,-0.1\n", "row 1 (line 2), column 'se': standard error must be > 0"),
    ("size_b,gain,se\n1,2,0\n", "column 'se': standard error must be > 0"),
    ("size_b,gain,se\n1,2,0.1\n4,5,0.2\n1,3,0.1\n", "rows 1, 3 (lines 2, 4), column 'size_b': duplicate"),
    ("size_b,size_m,gain,se\n1,1000,2,0.1\n", "all look like the size"),
    ("", "empty file"),
    ("size_b,gain,se\n", "no data rows"),
])
def test_bad_tables_raise_one_line_naming_row_and_column(write_csv, text, fragment):
    path = write_csv(text)
    with pytest.raises(DataError) as err:
        load_gain_table(path)
    message = str(err.value)
    assert fragment in message and str(path) in message and "\n" not in message


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_gain_table(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="is a directory"):
        load_gain_table(tmp_path)


def test_duplicates_allowed_across_by_levels(write_csv):
    text = "size_m,gain,se,richness\n1,2,0.1,0\n1,3,0.1,1\n2,4,0.1,0\n2,5,0.1,1\n"
    with pytest.raises(DataError, match="by=COLUMN .*richness"):
        load_gain_table(write_csv(text))
    t = load_gain_table(write_csv(text), by=("richness",))
    groups = t.split(["richness"])
    assert set(groups) == {"0", "1"}
    np.testing.assert_array_equal(groups["1"].value, [3, 5])


def test_benchmarks_select_and_pool(write_csv):
    text = ("size_b,benchmark,gain,se\n1,A,1.0,0.3\n1,B,3.0,0.4\n2,A,2.0,0.3\n2,B,4.0,0.4\n"
            "4,A,5.0,0.5\n")
    t = load_gain_table(write_csv(text))
    assert t.benchmarks == ["A", "B"]
    np.testing.assert_array_equal(t.select("B").value, [3.0, 4.0])
    pooled = t.pooled()
    np.testing.assert_allclose(pooled.size, [1, 2])  # size 4 lacks benchmark B
    np.testing.assert_allclose(pooled.value, [2.0, 3.0])
    np.testing.assert_allclose(pooled.se, [np.hypot(0.3, 0.4) / 2] * 2)
    assert any("dropped" in note for note in pooled.notes)
    with pytest.raises(DataError, match="no benchmark 'C'"):
        t.select("C")


def test_accuracy_table_gains_and_binomial_se(qwen_csv):
    raw = pd.read_csv(qwen_csv)
    t = load_gain_table(qwen_csv, treatment="OPSD", baseline="SFT")
    assert sorted(t.benchmarks) == ["AIME24", "AIME25", "AMO-Bench", "HMMT25"]
    assert len(t) == 12
    # an independent computation of one cell: Qwen3-8B, HMMT25
    sel = raw[(raw.size_b == 8) & (raw.benchmark == "HMMT25")].set_index("method")
    p_t, p_b, n = sel.accuracy_pct["OPSD"] / 100, sel.accuracy_pct["SFT"] / 100, 30
    row = (t.size == 8) & (t.benchmark == "HMMT25")
    assert t.value[row][0] == pytest.approx(47.1 - 44.7)
    assert t.se[row][0] == pytest.approx(100 * np.sqrt(p_t * (1 - p_t) / n + p_b * (1 - p_b) / n))
    vs_base = load_gain_table(qwen_csv, treatment="OPSD", baseline="Base")
    assert vs_base.value[(vs_base.size == 1.7) & (vs_base.benchmark == "AIME24")][0] == pytest.approx(1.2)


def test_accuracy_table_errors(qwen_csv, write_csv):
    with pytest.raises(DataError, match="no method 'PPO'"):
        load_gain_table(qwen_csv, treatment="PPO")
    with pytest.raises(DataError, match="need an accuracy table"):
        load_gain_table(write_csv(GOOD), treatment="OPSD")
    bad = "method,size_b,benchmark,accuracy_pct,n_problems\nSFT,1,A,120,30\nOPSD,1,A,50,30\n"
    with pytest.raises(DataError, match="outside 0-100"):
        load_gain_table(write_csv(bad))


def test_extra_columns_are_kept(write_csv):
    t = load_gain_table(write_csv("size_m,gain,se,richness,note\n1,2,0.1,0.5,x\n2,3,0.1,0.5,y\n"))
    frame = t.to_frame()
    assert list(frame.columns) == ["size", "gain", "se", "richness", "note"]
    assert frame["richness"].dtype.kind == "f"
