"""Shared fixtures: the bundled tables, and a helper to write a CSV in a temporary folder."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
from scalefit.studies.curves import DEFAULT_EXTERNAL as EXTERNAL  # noqa: E402,F401


@pytest.fixture(scope="session")
def paper_csv() -> Path:
    return DATA / "opsd_scaling_paper.csv"


@pytest.fixture
def qwen_csv() -> Path:
    return DATA / "opsd_qwen3_zhao2026.csv"


@pytest.fixture
def write_csv(tmp_path):
    def write(text: str, name: str = "table.csv") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write
