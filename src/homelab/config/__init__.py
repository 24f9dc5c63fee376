"""Load homelab.yaml into a validated HomelabConfig, or raise HomelabError with file:line problems."""

from __future__ import annotations

import difflib
import json
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
    for part in loc:
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
        choices = sorted(parent.model_fields) if parent else []
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
    return problem(doc.file, msg, line=doc.line_of(loc), path=path, hint=hint, rule=SCHEMA_RULE.id)


def load_config(path: str | Path = DEFAULT_CONFIG) -> HomelabConfig:
    path = Path(path)
    doc, data = load_located(path, display=str(path))
    if not isinstance(data, dict):
        raise HomelabError.single(doc.file, "the top level must be a mapping of sections (site, networks, ...)", line=1,
                                  hint="start from the bundled homelab.yaml", rule=SCHEMA_RULE.id)
    try:
        cfg = HomelabConfig.model_validate(data)
    except ValidationError as exc:
        problems = [_problem(doc, e) for e in exc.errors(include_url=False)]
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
