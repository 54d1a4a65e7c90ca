"""Tables as people have them: size suffixes, model names, fractions, delimiters and .xlsx; the
default design grid; the HTML report."""

import base64
import json
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from scalefit.cli import COMMANDS, main
from scalefit.sizes import default_candidates, parse_sizes, size_tokens
from tests.test_cli import run_cli
from tests.test_report import FIGURES, TABLES

PAPER = {"size": [0.5, 1, 2, 4, 8], "gain": [1.2, 2.1, 3.5, 5.4, 8.0],
         "se": [0.4, 0.3, 0.4, 0.5, 0.6]}


def fit_json(capsys, path, *args):
    """Run `scalefit fit` on ``path`` (must succeed); its JSON and its printout."""
    out = path.with_suffix(".json")
    assert main(["fit", str(path), "--at", "70", "--interval", "none", "--json", str(out),
                 *args]) == 0
    return json.loads(out.read_text()), capsys.readouterr().out


def fails(capsys, *argv):
    """Run the CLI (must exit 2 with one line on stderr); that line."""
    assert main(list(map(str, argv))) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    return err


@pytest.fixture(scope="module")
def paper_fit(paper_csv):
    from scalefit.core.average import fit_laws
    from scalefit.data import load_gain_table

    return fit_laws(load_gain_table(paper_csv)).to_dict([70])


def assert_is_paper_fit(result, paper_fit):
    np.testing.assert_allclose(result["data"]["size"], PAPER["size"], rtol=1e-12)
    np.testing.assert_allclose(result["data"]["gain"], PAPER["gain"], rtol=1e-12)
    np.testing.assert_allclose(result["data"]["se"], PAPER["se"], rtol=1e-12)
    assert result["average"]["70"]["mean"] == pytest.approx(paper_fit["average"]["70"]["mean"])


# --- the size parser and the default grid ------------------------------------------------------

@pytest.mark.parametrize("text,unit,size", [
    ("0.5B", "B", 0.5), ("7B", "B", 7.0), ("70M", "B", 0.07), ("1.2 T", "B", 1200.0),
    ("350k", "B", 3.5e-4), ("350K", "M", 0.35), ("7b", "M", 7000.0), ("0.5B", "count", 5e8),
    ("3", "B", 3.0), ("3", "M", 3.0), (" 2 m ", "B", 0.002),
])
def test_parse_sizes_converts_to_the_unit(text, unit, size):
    assert parse_sizes([text], unit)[0] == pytest.approx(size, rel=1e-12)


def test_parse_sizes_marks_what_is_not_a_size():
    assert np.isnan(parse_sizes(["2 bn", "B", "", "7BB", "1,5B"], "B")).all()


@pytest.mark.parametrize("name,size", [
    ("Qwen3-8B", 8.0), ("Llama-2-70b-hf", 70.0), ("pythia-410m", 0.41),
    ("Qwen2.5-0.5B-Instruct", 0.5), ("Qwen3-30B-A3B", 30.0), ("DeepSeek-R1-Distill-Qwen-1.5B", 1.5),
    ("OLMo-2-1124-7B", 7.0), ("Llama-3.1-8B", 8.0), ("gemma-2b-it", 2.0),
])
def test_size_from_model_name(name, size):
    token = size_tokens([name])[0]
    assert parse_sizes([token], "B")[0] == pytest.approx(size)


@pytest.mark.parametrize("name", ["gpt2", "Mixtral-8x7B", "merge-1B-7B", "Qwen3"])
def test_model_name_without_one_size(name):
    assert pd.isna(size_tokens([name])[0])


@pytest.mark.parametrize("largest,target,unit", [
    (8.0, 70.0, "B"), (0.5, 70.0, "B"), (8.0, 405.0, "B"), (8.0, 14.0, "B"), (100.0, 70.0, "B"),
    (0.3, 1.0, "M"), (2.0, 70.0, "K"),
])
def test_default_candidates_are_log_spaced_from_the_largest_size(largest, target, unit):
    grid = default_candidates(largest, target, unit)
    assert grid[0] == largest and np.all(np.diff(grid) > 0)
    assert grid[-1] == pytest.approx(2 * max(largest, target))
    steps = np.diff(np.log10(grid)) * 4  # in units of the nominal step, a quarter decade
    assert steps.min() > 0.45 and steps.max() < 1.55, steps
    if target > largest:
        assert target in grid


def test_default_candidates_hold_the_paper_sizes_inside():
    grid = default_candidates(8.0, 70.0, "B")
    assert {13.0, 32.0, 70.0} <= set(grid)
    assert 13.0 not in default_candidates(16.0, 70.0, "B")  # below the largest measured size
    assert not {13.0, 32.0} & set(default_candidates(8.0, 70.0, "M"))  # the paper sizes are B


# --- the five inputs, through the CLI -------------------------------------------------------------

def test_size_suffixes_fit_like_numbers(write_csv, capsys, paper_fit):
    rows = zip(["0.5B", "1000M", "2 b", "4B", "8000000k"], PAPER["gain"], PAPER["se"])
    path = write_csv("size,gain,se\n" + "".join(f"{s},{g},{e}\n" for s, g, e in rows))
    result, _ = fit_json(capsys, path)
    assert result["size_unit"] == "B"
    assert_is_paper_fit(result, paper_fit)
    in_m = write_csv("size_m,gain,se\n0.5B,1.2,0.4\n1000,2.1,0.3\n2B,3.5,0.4\n", "m.csv")
    result, _ = fit_json(capsys, in_m)
    assert result["data"]["size"] == [500.0, 1000.0, 2000.0]


def test_unparsable_size_is_one_line_naming_file_and_row(write_csv, capsys):
    path = write_csv("size,gain,se\n0.5B,1.2,0.4\n1B,2.1,0.3\n2 bn,3.5,0.4\n")
    err = fails(capsys, "fit", path)
    assert f"{path}, row 3 (line 4), column 'size': '2 bn' is not a size" in err


def test_sizes_from_model_names(write_csv, capsys, paper_fit):
    names = ["Qwen2.5-0.5B-Instruct", "pythia-1b", "Llama-2b-hf", "Qwen3-4B", "Llama-3.1-8B"]
    path = write_csv("model,gain,se\n" + "".join(
        f"{n},{g},{e}\n" for n, g, e in zip(names, PAPER["gain"], PAPER["se"])))
    result, printed = fit_json(capsys, path)
    assert_is_paper_fit(result, paper_fit)
    note = "sizes read from the model names in column 'model'"
    assert note in result["notes"] and f"note: {note}" in printed


def test_model_name_without_a_size_is_one_line(write_csv, capsys):
    path = write_csv("model_name,gain,se\nQwen3-8B,1.2,0.4\ngpt2,2.1,0.3\n")
    err = fails(capsys, "fit", path)
    assert f"{path}, row 2 (line 3), column 'model_name': no single size in the model name 'gpt2'" in err


def test_fractions_refused_unless_the_unit_is_given(write_csv, capsys, paper_fit):
    path = write_csv("size_b,gain,se\n" + "".join(
        f"{s},{g / 100},{e / 100}\n" for s, g, e in zip(*PAPER.values())))
    for command in ("fit", "design", "decompose"):
        err = fails(capsys, command, path)
        assert "look like fractions" in err and "--gain-unit fraction" in err and str(path) in err
    result, printed = fit_json(capsys, path, "--gain-unit", "fraction")
    assert_is_paper_fit(result, paper_fit)
    assert result["gain_unit"] == "percentage points"
    assert "gains in percentage points (pp)" in printed
    assert "multiplied by 100 to percentage points" in printed
    assert any("given as fractions, multiplied by 100" in n for n in result["notes"])
    as_pp, _ = fit_json(capsys, path, "--gain-unit", "pp")
    np.testing.assert_allclose(as_pp["data"]["gain"], np.array(PAPER["gain"]) / 100)


def test_a_gain_column_named_in_pp_is_not_refused(write_csv, capsys):
    result, _ = fit_json(capsys, write_csv("size_b,gain_pp,se\n1,0.2,0.1\n2,0.4,0.1\n4,0.5,0.1\n"))
    assert result["data"]["gain"] == [0.2, 0.4, 0.5]


def test_every_table_command_has_gain_unit(capsys):
    for command in set(COMMANDS) - {"run", "loop"}:
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert "--gain-unit" in capsys.readouterr().out, command


@pytest.mark.parametrize("name,text", [
    ("semicolon.csv", "size_b;gain;se\n0,5;1,2;0,4\n1;2,1;0,3\n2;3,5;0,4\n4;5,4;0,5\n8;8,0;0,6\n"),
    ("tabs.tsv", "size_b\tgain\tse\n0.5\t1.2\t0.4\n1\t2.1\t0.3\n2\t3.5\t0.4\n4\t5.4\t0.5\n8\t8\t0.6\n"),
    ("comma.csv", "# a comment; with a semicolon\nsize_b,gain,se\n0.5,1.2,0.4\n1,2.1,0.3\n"
                  "2,3.5,0.4\n4,5.4,0.5\n8,8.0,0.6\n"),
])
def test_delimiters_are_detected(write_csv, capsys, paper_fit, name, text):
    result, _ = fit_json(capsys, write_csv(text, name))
    assert_is_paper_fit(result, paper_fit)


def test_xlsx_is_read(tmp_path, capsys, paper_fit):
    pytest.importorskip("openpyxl")
    path = tmp_path / "gains.xlsx"
    pd.DataFrame({"Size (B)": PAPER["size"], "Gain (pp)": PAPER["gain"],
                  "SE (pp)": PAPER["se"]}).to_excel(path, index=False)
    result, _ = fit_json(capsys, path)
    assert_is_paper_fit(result, paper_fit)
    bad = tmp_path / "bad.xlsx"
    pd.DataFrame({"size": ["1B", "2 bn"], "gain": [1, 2], "se": [0.1, 0.1]}).to_excel(bad, index=False)
    assert f"{bad}, row 2 (line 3), column 'size'" in fails(capsys, "fit", bad)
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"PK\x03\x04 not a workbook")
    assert f"{broken}: not a readable .xlsx" in fails(capsys, "fit", broken)


def test_design_without_candidates_uses_the_default_grid(paper_csv, tmp_path, capsys):
    out = tmp_path / "design.json"
    assert main(["design", str(paper_csv), "--sims", "20", "--quiet", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    grid = default_candidates(8.0, 70.0, "B")
    assert [float(k) for k in json.loads(out.read_text())["candidates"]] == list(grid)
    assert "default candidates: 8, 13, 20, 32, 70, 140 B" in printed


# --- the HTML report -----------------------------------------------------------------------------

class PageParser(HTMLParser):
    """Collects the page's images, figure and table ids, tables and headings in order."""

    def __init__(self):
        super().__init__()
        self.images, self.ids, self.headings, self.tables, self.external = [], [], [], 0, []
        self._heading = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.append(attrs["id"])
        if tag == "img":
            self.images.append(attrs["src"])
        if tag == "table":
            self.tables += 1
        if tag in ("link", "script") or (tag == "img" and not attrs["src"].startswith("data:")):
            self.external.append(tag)
        if tag in ("h2", "h3"):
            self._heading = ""

    def handle_data(self, data):
        if self._heading is not None:
            self._heading += data

    def handle_endtag(self, tag):
        if tag in ("h2", "h3") and self._heading is not None:
            self.headings.append(self._heading)
            self._heading = None


@pytest.fixture(scope="module")
def html_report(tmp_path_factory, paper_csv):
    out = tmp_path_factory.mktemp("html")
    proc = run_cli("report", paper_csv, "--out", out, "--bootstrap", 50, "--validation", 4,
                   "--no-posterior", "--workers", 1, "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert "report.html" in proc.stdout
    return out


def test_html_report_holds_every_figure_and_table(html_report):
    page = PageParser()
    page.feed((html_report / "report.html").read_text(encoding="utf-8"))
    assert page.external == []  # self-contained: nothing fetched
    shown = ["forecast"] + FIGURES  # the forecast's figure opens the page, beside its table
    for name in shown:
        assert name in page.ids
        png = base64.b64decode(page.images[shown.index(name)].split(",", 1)[1])
        assert png == (html_report / f"{name}.png").read_bytes()
    assert len(page.images) == len(shown)
    assert set(TABLES + ["predictions_bootstrap", "forecast_table"]) <= set(page.ids)
    # the forecast, bootstrap averages, the data, then the report's four CSV tables
    assert page.tables == 3 + 4
    assert page.headings[0].startswith("Forecast: damped trend")
    assert page.headings.index("Data and provenance") < page.headings.index("Figures")
    assert not list(html_report.glob(".*"))  # written atomically, no temporary file left


def test_html_report_names_the_data_provenance(html_report, paper_csv):
    import hashlib

    text = (html_report / "report.html").read_text(encoding="utf-8")
    assert hashlib.sha256(paper_csv.read_bytes()).hexdigest() in text
    from scalefit.methods import DEFAULT_METHOD

    assert str(paper_csv) in text and DEFAULT_METHOD in text
