"""The shipped YAML files' parsed twins (``rules/parsed.json``, ``sshwall.policy.prebuilt``):
current, exactly what PyYAML reads, and used only for the very text they were parsed from."""

from __future__ import annotations

import datetime
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from sshwall.policy import load as load_mod
from sshwall.policy import load_policy, prebuilt
from sshwall.policy.load import embedded_rules

ROOT = embedded_rules()
SHIPPED = sorted(ROOT.rglob("*.yaml"))
REGENERATE = 'python -c "import sshwall.policy.prebuilt as p; p.main()"'


def _stored() -> dict[str, Any]:
    body = json.loads((ROOT / prebuilt.PARSED).read_text(encoding="utf-8"))
    # Another PyYAML release than the one that wrote the file only makes sshwall ignore the twins
    # (and parse the YAML); the data must still be what this PyYAML reads, checked below.
    assert body["format"] == prebuilt.FORMAT, f"stale: run {REGENERATE}"
    files: dict[str, Any] = body["files"]
    return files


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_shipped_file_has_its_current_twin(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    entry = _stored().get(path.relative_to(ROOT).as_posix())
    assert entry is not None and entry["sha256"] == prebuilt.digest(text), f"{path} changed: run {REGENERATE}"
    assert prebuilt.same(entry["data"], yaml.load(text, Loader=yaml.SafeLoader))  # order and types too


def test_the_file_is_what_building_it_gives() -> None:
    stored = json.loads((ROOT / prebuilt.PARSED).read_text(encoding="utf-8"))
    built = json.loads(prebuilt.build(ROOT))
    stored.pop("pyyaml"), built.pop("pyyaml")  # the writing PyYAML's release (see _stored)
    assert stored == built, f"run {REGENERATE}"


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_a_shipped_file_is_read_without_parsing_it(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("parsed")

    monkeypatch.setattr(load_mod.yaml, "load", refuse)
    assert prebuilt.same(load_mod._Doc(path).data, expected)


def test_each_reader_gets_its_own_copy() -> None:
    path = ROOT / "readonly-ops.yaml"
    first, second = load_mod._Doc(path).data, load_mod._Doc(path).data
    assert first is not second and first["commands"] is not second["commands"]


def test_the_policy_is_the_same_either_way(monkeypatch: pytest.MonkeyPatch) -> None:
    fast = load_policy(ROOT / "readonly-ops.yaml")
    monkeypatch.setattr(prebuilt, "ENABLED", False)
    parsed = load_policy(ROOT / "readonly-ops.yaml")
    assert fast == parsed and fast.model_dump() == parsed.model_dump()


def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "rules"
    shutil.copytree(ROOT, root)
    return root


def test_a_changed_file_is_parsed(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    path = root / "readonly-ops.yaml"
    text = path.read_text(encoding="utf-8")
    assert prebuilt.lookup(root, path, text) is not None
    assert prebuilt.lookup(root, path, text + "\n# one more line\n") is None
    assert prebuilt.lookup(root, path, text.replace("diagnostics", "diagnostic", 1)) is None


def test_no_twin_outside_the_rules_folder_or_for_another_pyyaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _copy(tmp_path)
    text = (root / "readonly-ops.yaml").read_text(encoding="utf-8")
    elsewhere = tmp_path / "readonly-ops.yaml"
    elsewhere.write_text(text, encoding="utf-8")
    assert prebuilt.lookup(root, elsewhere, text) is None
    assert prebuilt.lookup(root, root / "profiles" / "readonly-ops.yaml", text) is None  # keyed by path too
    monkeypatch.setattr(prebuilt.yaml, "__version__", "0.0")
    assert prebuilt.lookup(root, root / "readonly-ops.yaml", text) is None


@pytest.mark.parametrize("body", ["", "not json", "[]", '{"format": 99}'])
def test_an_unreadable_twin_file_means_parsing(tmp_path: Path, body: str) -> None:
    root = _copy(tmp_path)
    (root / prebuilt.PARSED).write_text(body, encoding="utf-8")
    path = root / "readonly-ops.yaml"
    assert prebuilt.lookup(root, path, path.read_text(encoding="utf-8")) is None


def test_only_json_types_get_a_twin(tmp_path: Path) -> None:
    assert not prebuilt.plain({"when": datetime.date(2026, 1, 1)})
    assert not prebuilt.plain({1: "number key"})
    assert not prebuilt.plain([float("nan")])
    assert not prebuilt.plain({"a": ("tuple",)})
    assert prebuilt.plain({"a": [1, 1.5, True, None, "x"]})
    root = tmp_path / "r"
    root.mkdir()
    (root / "dated.yaml").write_text("on: 2026-01-01\n", encoding="utf-8")
    (root / "keys.yaml").write_text("200: ok\n", encoding="utf-8")
    (root / "fine.yaml").write_text("a: [1, yes, 1.0]\n", encoding="utf-8")
    assert list(json.loads(prebuilt.build(root))["files"]) == ["fine.yaml"]


def test_same_tells_types_and_order_apart() -> None:
    assert prebuilt.same({"a": 1, "b": [True]}, {"a": 1, "b": [True]})
    assert not prebuilt.same({"a": 1, "b": 2}, {"b": 2, "a": 1})
    assert not prebuilt.same([1], [True])
    assert not prebuilt.same([1], [1.0])
    assert not prebuilt.same([1], [1, 2])
