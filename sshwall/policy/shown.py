"""The merged policy as ``sshwall policy show`` prints it: the policy model's key order, and YAML
written as the shipped files are (the dumping half of the one PyYAML package, sshwall.policy)."""

from __future__ import annotations

from typing import Any

import yaml

from sshwall.policy.model import Policy


def shown_order(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with its top-level keys in the policy model's order (unknown keys after)."""
    order = list(Policy.model_fields)
    known = {k: data[k] for k in order if k in data}
    return {**known, **{k: v for k, v in data.items() if k not in known}}


class _Dumper(yaml.SafeDumper):
    """Safe YAML as the shipped files are written: lists of scalars in flow style, other lists
    indented under their key, no anchors (a set's include repeats what it includes)."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)

    def ignore_aliases(self, data: Any) -> bool:
        return True

    def represent_list(self, data: Any) -> yaml.SequenceNode:
        flat = all(v is None or isinstance(v, (str, int, float, bool)) for v in data)
        return self.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flat)


_Dumper.add_representer(list, _Dumper.represent_list)


def dump_yaml(data: Any) -> str:
    """``data`` as block YAML in its own key order (what ``sshwall policy show`` prints)."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100)
