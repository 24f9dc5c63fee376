"""Kept for importers of the old name: the tree's YAML index lives in `homelab.yamlio`."""

from homelab.yamlio import DocInfo, ParsedYaml, YamlProblem, line_of, load_all, parse_yaml

__all__ = ["DocInfo", "ParsedYaml", "YamlProblem", "line_of", "load_all", "parse_yaml"]
