"""What the distribution declares matches what the tree holds."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_the_license_pyproject_names_is_in_the_tree() -> None:
    assert PYPROJECT["project"]["license"] == {"text": "Apache-2.0"}
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text
    assert "Version 2.0, January 2004" in text


def test_every_package_data_pattern_matches_a_file() -> None:
    package_data = PYPROJECT["tool"]["setuptools"]["package-data"]
    for package, patterns in package_data.items():
        base = ROOT / "src" / package.replace(".", "/")
        for pattern in patterns:
            assert list(base.glob(pattern)), f"{package}: {pattern} matches no file"


def test_every_driver_module_the_ports_name_exists() -> None:
    import re

    for ports in ("src/meetbot/ports.py", "src/meetbot/control/ports.py"):
        doc = (ROOT / ports).read_text().split('"""')[1]
        package = ROOT / Path(ports).parent
        for name in re.findall(r"``([a-z_/]+(?:\.py|/))``", doc):
            assert (package / name).exists() or (ROOT / "src/meetbot" / name).exists(), name
