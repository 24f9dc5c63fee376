"""Read a Flux tree the way the controllers do, offline.

Public API (other commands build on it; keep it stable):

    from homelab.gitops import load_tree, Cache
    tree = load_tree(root, cfg, cache=Cache(root / ".homelab/cache/gitops.pickle"))
    tree.kustomizations          # {"flux-system/apps": FluxKustomization, ...}, root first
    tree.objects                 # every K8sObject applied (body after substitution, file, line)
    tree.levels()                # [[FluxKustomization, ...], ...] reconcile waves by dependsOn (+ parent)
    tree.cycles()                # dependsOn cycles as lists of keys
    tree.helm_releases(), tree.routes(), tree.certificates(), tree.sources()
    tree.find(kind, name, namespace), tree.by_kind(*kinds, group=...)
    obj.line_of("spec", "routes", 0, "match")   # the line of a nested key in the source file

`load_tree` never raises for a broken tree: problems are recorded (`ks.build_error`,
`ks.missing_substitute_from`, `obj.unresolved`, `tree.files[path].problems`) and turned into
findings by `homelab.checks`.
"""

from homelab.gitops.cache import Cache
from homelab.gitops.loader import load_tree
from homelab.gitops.model import ChartSpec, FluxKustomization, FluxTree, K8sObject, Ref
from homelab.gitops.substitute import substitute
from homelab.yamlio import DocInfo, ParsedYaml, YamlProblem, line_of, parse_yaml

__all__ = ["Cache", "ChartSpec", "DocInfo", "FluxKustomization", "FluxTree", "K8sObject", "ParsedYaml", "Ref", "YamlProblem",
           "line_of", "load_tree", "parse_yaml", "substitute"]
