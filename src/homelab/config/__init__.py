"""Load homelab.yaml into a validated HomelabConfig, or raise HomelabError with file:line problems."""

from __future__ import annotations

import difflib
import json
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from homelab.config import rules
from homelab.config.model import HomelabConfig
from homelab.registry import declare
from homelab.errors import HomelabError, Problem, problem
from homelab.yamlio import LocatedDoc, load_located

__all__ = ["HomelabConfig", "load_config", "json_schema", "DEFAULT_CONFIG"]

DEFAULT_CONFIG = "homelab.yaml"

SCHEMA_RULE = declare("config/schema", "homelab.yaml has the keys and value types of its schema (schema/homelab.schema.json)",
                      reported_by="validate")


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model that owns the mapping at `loc` (for "did you mean" suggestions)."""
    model: Any = HomelabConfig
    skip = False
    for part in loc:
        if skip:  # the key of a dict entry or the index of a list item
            skip = False
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return None
        field = model.model_fields.get(part) or next(
            (f for f in model.model_fields.values() if f.alias == part), None)
        if field is None:
            return None
        ann = field.annotation
        args = getattr(ann, "__args__", ())
        # dict[str, X] and list[X] are walked through their item type: the next loc part is a key/index.
        if getattr(ann, "__origin__", None) in (dict, list):
            model = args[-1]
            skip = True
            continue
        model = next((a for a in (ann, *args) if isinstance(a, type) and issubclass(a, BaseModel)), ann)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _dict_item_loc(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """Strip pydantic's `[key]` wrapper parts so the loc is a plain key path."""
    return tuple(p for p in loc if not (isinstance(p, str) and p.startswith("function-")))


def _problem(doc: LocatedDoc, err: dict[str, Any]) -> Problem:
    loc = _dict_item_loc(tuple(err["loc"]))
    path = ".".join(str(p) for p in loc)
    kind = err["type"]
    hint = ""
    if kind == "extra_forbidden":
        parent = _model_at(loc[:-1])
        choices = sorted(f.alias or n for n, f in parent.model_fields.items()) if parent else []
        close = difflib.get_close_matches(str(loc[-1]), choices, n=1)
        msg = f"unknown key '{loc[-1]}'"
        hint = f"did you mean '{close[0]}'?" if close else (f"allowed keys: {', '.join(choices)}" if choices else "remove it")
    elif kind == "missing":
        msg = f"required key '{loc[-1]}' is missing"
        hint = "see the schema in schema/homelab.schema.json for what it takes"
    else:
        msg = err["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        if "input" in err and kind not in ("model_type", "dict_type", "list_type") and not isinstance(err["input"], (dict, list)):
            shown = json.dumps(err["input"], default=str)
            if str(err["input"]) not in msg:
                msg = f"{msg} (got {shown})"
        hint = _type_hint(kind, err.get("input"), loc)
    return problem(doc.file, msg, line=doc.line_of(loc), path=path, hint=hint, rule=SCHEMA_RULE.id)


def _field_description(loc: tuple[Any, ...]) -> str:
    """The docstring of the key at `loc` (a list item's: its list's)."""
    keys = tuple(loc)
    while keys and isinstance(keys[-1], int):
        keys = keys[:-1]
    parent = _model_at(keys[:-1]) if keys else None
    field = parent.model_fields.get(str(keys[-1])) if parent else None
    return (field.description or "") if field else ""


def _type_hint(kind: str, value: Any, loc: tuple[Any, ...]) -> str:
    """How to write the value, in YAML's terms, with the key's own example when its docstring has one."""
    key = next((str(p) for p in reversed(loc) if not isinstance(p, int)), "")
    example = re.search(r"e\.g\. `([^`]+)`", _field_description(loc))
    like = f", e.g. {key}: {example.group(1)}" if example else ""
    if kind in ("string_type", "str_type") and isinstance(value, (bool, int, float)):
        what = "true/false" if isinstance(value, bool) else "a number"
        quoted = example.group(1) if example else json.dumps(value)
        return f'YAML reads {json.dumps(value)} as {what}; write it as a quoted string, e.g. {key}: "{quoted}"'
    if kind.startswith("int_"):
        return f"write a whole number without quotes{like}"
    if kind.startswith("bool_"):
        return "write true or false"
    if kind in ("list_type", "tuple_type", "set_type"):
        return f"write a list: one `- item` per line below {key}:"
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return f"write the keys of {key} indented below it"
    if kind.startswith("ip_"):
        return f"write an IPv4 address like 192.168.1.2{like.replace(', e.g.', '; here, e.g.')}"
    return f"for example {key}: {example.group(1)}" if example else ""


def load_config(path: str | Path = DEFAULT_CONFIG) -> HomelabConfig:
    path = Path(path)
    doc, data = load_located(path, display=str(path))
    if not isinstance(data, dict):
        raise HomelabError.single(doc.file, "the top level must be a mapping of sections (site, networks, ...)", line=1,
                                  hint="start from the bundled homelab.yaml", rule=SCHEMA_RULE.id)
    try:
        cfg = HomelabConfig.model_validate(data)
    except ValidationError as exc:
        # A default computed from another key (api_endpoint from address) is skipped when that key
        # is wrong; pydantic says so as an error of its own, but the wrong key is the one to report.
        problems = [_problem(doc, e) for e in exc.errors(include_url=False) if e["type"] != "default_factory_not_called"]
        problems.sort(key=lambda p: (p.line or 0, p.key))
        raise HomelabError(problems) from None
    found = rules.check(cfg, doc.file, doc.line_of)
    if found:
        found.sort(key=lambda p: (p.line or 0, p.key))
        raise HomelabError(found)
    return cfg


def json_schema() -> dict[str, Any]:
    schema = HomelabConfig.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://github.com/homelab/homelab/schema/homelab.schema.json"
    schema["title"] = "homelab.yaml"
    return schema
