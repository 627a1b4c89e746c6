"""docs/DEVIATIONS.md: every switch it documents is a real config field that accepts the documented value."""

from __future__ import annotations

import ast
import dataclasses
import re
from collections import defaultdict
from pathlib import Path

import pytest

import hf_vssl

DEVIATIONS = Path(__file__).parents[1] / "docs" / "DEVIATIONS.md"
COLUMNS = ["method", "what", "our default (source)", "released behaviour", "switch"]
SWITCH = re.compile(r"`(\w+Config)\.(\w+)=([^`]+)`")


def _rows() -> list[list[str]]:
    """The cells of the one table, header first."""
    lines = [line.strip() for line in DEVIATIONS.read_text().splitlines() if line.strip().startswith("|")]
    return [
        [cell.strip() for cell in line.strip("|").split("|")] for line in lines if not set(line) <= set("|- ")
    ]


def _switches(cell: str) -> dict[str, dict[str, object]]:
    """`Config.field=value` items of a switch cell -> {config class name: {field: value}}."""
    switches: dict[str, dict[str, object]] = defaultdict(dict)
    for name, field, value in SWITCH.findall(cell):
        switches[name][field] = ast.literal_eval(value)
    return switches


def test_the_table_has_its_columns_and_a_switch_or_a_reason_in_every_row():
    header, *rows = _rows()
    assert header == COLUMNS
    assert len(rows) >= 20
    for row in rows:
        assert len(row) == len(COLUMNS), row
        switch = row[-1]
        assert SWITCH.search(switch) or switch.startswith("none"), row
    methods = {m.strip() for row in rows for m in row[0].split(",")}
    assert {"ViCC", "Pace", "MFO", "SDC", "S3D"} <= methods


@pytest.mark.parametrize("row", _rows()[1:], ids=lambda row: f"{row[0]}: {row[1]}"[:60])
def test_every_documented_switch_is_a_field_that_takes_the_value(row):
    for name, values in _switches(row[-1]).items():
        config_class = getattr(hf_vssl, name, None)
        assert config_class is not None, f"{name} is not a config class of hf_vssl"
        fields = {f.name for f in dataclasses.fields(config_class)}
        missing = sorted(set(values) - fields)
        assert not missing, f"{name} has no field {missing} (documented in docs/DEVIATIONS.md)"
        config = config_class(**values)
        for field, value in values.items():
            got = getattr(config, field)
            if isinstance(value, dict):  # a sub-config: the documented fields are set
                assert {key: getattr(got, key) for key in value} == value, (name, field)
            else:
                assert got == value, (name, field)


def test_a_switch_naming_a_missing_field_is_caught():
    """The parser sees a misspelt field (guards against a test that would pass on any table)."""
    switches = _switches('`SDCConfig.nce_detach_key=False` `PaceConfig.contrastive="none"`')
    assert switches == {"SDCConfig": {"nce_detach_key": False}, "PaceConfig": {"contrastive": "none"}}
    assert "nce_detach_key" not in {f.name for f in dataclasses.fields(hf_vssl.SDCConfig)}
