"""The compiled (fastjsonschema) validators agree with jsonschema on real objects, so the fast
path never passes what the reference validator rejects."""

from __future__ import annotations

import copy

import pytest

from homelab.checks.rules import schema as s
from homelab.gitops import Cache, load_tree

from check_helpers import CRD_SCHEMAS, make_repo


@pytest.fixture(scope="module")
def objects(tmp_path_factory):
    repo = make_repo(tmp_path_factory.mktemp("schema") / "repo")
    return load_tree(repo, cache=Cache(None)).objects


def _source(o, k8s_dir):
    p = s._k8s_schema_file(k8s_dir, o.group, o.version, o.kind)
    if p is not None:
        return str(p), str(k8s_dir)
    return str(CRD_SCHEMAS / o.group / f"{o.kind.lower()}_{o.version}.json"), None


def _broken(body: dict) -> dict:
    b = copy.deepcopy(body)
    b.setdefault("spec", {})["notAField"] = True
    return b


def test_compiled_and_reference_validators_agree(objects):
    import fastjsonschema

    k8s_dir = s._k8s_dir("1.36")
    assert k8s_dir is not None and k8s_dir.name == "v1.36.0-local-strict"
    checked = 0
    for o in objects:
        src, kd = _source(o, k8s_dir)
        for body in (o.body, _broken(o.body)):
            ref_errors = list(s._validator(src, kd).iter_errors(body))
            try:
                s._compiled(src, kd)(body)
                compiled_ok = True
            except fastjsonschema.JsonSchemaValueException:
                compiled_ok = False
            assert compiled_ok == (not ref_errors), (o, body is o.body, [e.message for e in ref_errors])
            checked += 1
    assert checked == 2 * len(objects) > 60
