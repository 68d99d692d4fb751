"""The fast YAML loader (libyaml's parser) reads every shipped policy exactly as PyYAML's own does.

``sshwall.policy.load`` reads policies with ``yaml.CSafeLoader`` when PyYAML has libyaml; both
loaders share the Python constructor and resolver, and these tests prove the data and the line
of every node are the same for each shipped policy, profile, catalogue and fixture policy.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sshwall.errors import PolicyError
from sshwall.policy import load as load_mod

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted([*ROOT.glob("rules/**/*.yaml"), *ROOT.glob("fixtures/policies/*.yaml")])


def _lines(text: str, loader: type[yaml.SafeLoader] | type[yaml.CSafeLoader]) -> dict[tuple[str | int, ...], int]:
    lines: dict[tuple[str | int, ...], int] = {}
    node = yaml.compose(text, Loader=loader)
    assert node is not None
    load_mod._index(node, (), lines)
    return lines


def test_the_shipped_files_are_found() -> None:
    assert len(SHIPPED) >= 5
    assert ROOT / "rules" / "readonly-ops.yaml" in SHIPPED


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(ROOT)))
def test_fast_loader_reads_what_pyyaml_reads(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert yaml.load(text, Loader=load_mod._FAST_LOADER) == yaml.load(text, Loader=yaml.SafeLoader)
    assert _lines(text, load_mod._FAST_LOADER) == _lines(text, yaml.SafeLoader)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(ROOT)))
def test_doc_lines_are_the_composed_lines(path: Path) -> None:
    doc = load_mod._Doc(path)
    assert doc.data == yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    assert doc.lines == _lines(path.read_text(encoding="utf-8"), yaml.SafeLoader)


def test_libyaml_is_used_when_pyyaml_has_it() -> None:
    if getattr(yaml, "__with_libyaml__", False):
        assert load_mod._FAST_LOADER is yaml.CSafeLoader
    else:
        assert load_mod._FAST_LOADER is yaml.SafeLoader


def test_lines_are_indexed_only_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("version: 1\ntools:\n  a: allow\n")
    doc = load_mod._Doc(path)
    assert doc._lines is None
    assert doc.where(("tools", "a")) == f"{path}:3"


def test_yaml_errors_keep_pyyaml_wording(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    text = "version: 1\ntools:\n  a: allow\n b: allow\n"
    path.write_text(text)
    with pytest.raises(yaml.YAMLError) as pure:
        yaml.load(text, Loader=yaml.SafeLoader)
    with pytest.raises(PolicyError) as err:
        load_mod._Doc(path)
    mark = pure.value.problem_mark  # type: ignore[attr-defined]
    assert str(err.value) == f"{path}:{mark.line + 1}: invalid YAML: {pure.value.problem}"  # type: ignore[attr-defined]


class _Refusing(yaml.SafeLoader):
    """A fast loader that refuses every document (as libyaml might refuse what PyYAML reads)."""

    def get_single_node(self) -> yaml.Node | None:
        raise yaml.YAMLError("refused")


def test_what_the_fast_loader_refuses_pyyaml_decides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(load_mod, "_FAST_LOADER", _Refusing)
    path = tmp_path / "p.yaml"
    path.write_text("version: 1\ntools:\n  a: allow\n")
    doc = load_mod._Doc(path)
    assert doc.data == {"version": 1, "tools": {"a": "allow"}}
    assert doc.where(("tools", "a")) == f"{path}:3"
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\ntools:\n  a: allow\n b: allow\n")
    with pytest.raises(PolicyError, match="invalid YAML"):
        load_mod._Doc(bad)
