"""secrets/*: no Secret data in Git, no credential-looking strings anywhere, BitwardenSecrets name
their auth token.

The credential scan is detect-secrets (its default plugins and filters) over every file a push
would carry. For speed, each line is first screened for what every detect-secrets detector needs
(a long mixed token, a hex string, a secret-ish keyword, a private key header, credentials in a
URL); only lines that pass are handed to detect-secrets. Results are cached per file content.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

from homelab.checks.context import CheckContext
from homelab.checks.registry import finding, rule
from homelab.checks.rules._util import where
from homelab.findings import Finding
from homelab.gitops.cache import digest

_TOKEN_RUN = re.compile(r"[A-Za-z0-9+/=_\-]{20,}")
_SCREEN_OTHER = re.compile(
    r"\b(?=[0-9a-fA-F]*[a-fA-F])(?=[0-9a-fA-F]*[0-9])[0-9a-fA-F]{8,}\b|-----BEGIN|://[^/\s:@]+:[^/\s@]+@"
    r"|AP[0-9A-F][a-zA-Z0-9]{8,}"
    r"|(?i:api_?key|auth_?key|service_?key|account_?key|db_?key|database_?key|priv_?key|private_?key|client_?key"
    r"|db_?pass|database_?pass|key_?pass|password|passwd|pwd|secret|contrase|token)")


def might_hold_secret(text: str) -> bool:
    """Cheap screen: a secret-ish keyword, a private key, credentials in a URL, a hex string with
    letters and digits, or a 20+ character token with upper case and lower case or digits (or a
    long lower-case-and-digit segment). Kebab-case names and paths are long tokens too, but no
    entropy detector fires on those."""
    if _SCREEN_OTHER.search(text):
        return True
    for m in _TOKEN_RUN.finditer(text):
        tok = m.group(0)
        upper, lower, digit = (any(c.isupper() for c in tok), any(c.islower() for c in tok),
                               any(c.isdigit() for c in tok))
        if upper and (lower or digit):
            return True
        # lower case and digits only: a path or kebab-case name (`apps/app-0001/app`) unless one
        # segment itself is a long letter-and-digit jumble
        if lower and digit and any(len(seg) >= 12 and any(c.isdigit() for c in seg) and any(c.isalpha() for c in seg)
                                   for seg in re.split(r"[-/_.=+]", tok)):
            return True
    return False


SKIP_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".ico", ".pdf", ".zip", ".gz", ".tgz", ".lock", ".pickle", ".svg")
SKIP_NAMES = {".terraform.lock.hcl", "package-lock.json", "poetry.lock", "uv.lock"}
MAX_BYTES = 1_000_000


# `secretName: x`, `passwordKey: y`, `existingSecret: z`, `apiTokenSecretRef:` name a secret, they
# do not hold one; detect-secrets' keyword plugin cannot tell the difference in Kubernetes YAML.
_REFERENCE_KEY = re.compile(r"^\s*-?\s*[\"']?[a-z][A-Za-z0-9]*(?:Name|Key|Keys|KeyName|Ref|Refs|File|Path|Id|Namespace"
                            r"|Secret|Secrets)[\"']?\s*:")


_COMMENT = re.compile(r"^\s*#+\s?")
_YAML_PLAIN_VALUE = re.compile(r"^(\s*(?:-\s+)?[^\s:#\"'][^:#]*:\s+)([^\"'\s#|>&*!{\[][^#]*?)\s*$")


def _reduce(rel: str, lines: list[str]) -> tuple[list[tuple[int, str]], str]:
    """The lines that pass the screen (number, text) and the reduced file to hand detect-secrets."""
    cand = [(n, line) for n, line in enumerate(lines, 1) if might_hold_secret(line)]
    is_yaml = rel.endswith((".yaml", ".yml"))
    # detect-secrets' YAML reader drops comments: a commented-out credential is handed over as the
    # text it comments out, so it is found all the same
    reduced = [_YAML_PLAIN_VALUE.sub(r'\1"\2"', _COMMENT.sub("", line)) if is_yaml else line for _, line in cand]
    return cand, "\n".join(reduced) + "\n"


def _scan_files(todo: list[tuple[str, list[str]]]) -> dict[str, list[tuple[int, str]]]:
    """detect-secrets over the lines that pass the screen (every detector needs what the screen
    looks for, so no other line can hold a finding). YAML plain values are quoted, as
    detect-secrets' own YAML transformer does, so its quoted-string entropy detectors see them."""
    from detect_secrets.core.scan import scan_file
    from detect_secrets.settings import default_settings

    out: dict[str, list[tuple[int, str]]] = {}
    with tempfile.TemporaryDirectory(prefix="homelab-secrets-") as tmp, default_settings():
        for i, (rel, lines) in enumerate(todo):
            cand, reduced = _reduce(rel, lines)
            hits = set()
            if cand:
                path = Path(tmp) / str(i) / Path(rel).name
                path.parent.mkdir()
                path.write_text(reduced, encoding="utf-8")
                for s in scan_file(str(path)):
                    if not 0 < s.line_number <= len(cand):
                        continue
                    orig_no, text = cand[s.line_number - 1]
                    if s.type == "Secret Keyword" and (_REFERENCE_KEY.match(text) or "${" in text):
                        continue
                    hits.add((orig_no, s.type))
            out[rel] = sorted(hits)
    return out


@rule("secrets/credential", "no credential-looking string in any file (detect-secrets)", needs_tree=False,
      also={"secrets/credential-in-comment": "no credential-looking string in a YAML comment either"})
def credential(ctx: CheckContext):
    results: dict[str, list[tuple[int, str]]] = {}
    todo: list[tuple[str, list[str]]] = []
    keys: dict[str, str] = {}
    for rel in ctx.files:
        name = rel.rsplit("/", 1)[-1]
        if rel.endswith(SKIP_SUFFIXES) or name in SKIP_NAMES:
            continue
        data, fkey = ctx.read(rel), ctx.file_digest(rel)
        if data is None or len(data) > MAX_BYTES:
            continue
        key = "detect-secrets-4:" + str(fkey)
        hits = ctx.cache.get("secrets", key)
        if hits is not None:
            results[rel] = hits
            continue
        text = ctx.text(rel)
        if text is None or not might_hold_secret(text):
            ctx.cache.put("secrets", key, [])
            continue
        todo.append((rel, text.splitlines()))
        keys[rel] = key
    if todo:
        scanned = _scan_files(todo)
        for rel, hits in scanned.items():
            ctx.cache.put("secrets", keys[rel], hits)
        results.update(scanned)
    for rel in ctx.files:
        by_line: dict[int, list[str]] = {}
        for line, kind in results.get(rel, []):
            by_line.setdefault(line, []).append(kind)
        lines = (ctx.text(rel) or "").splitlines() if by_line else []
        for line, kinds in sorted(by_line.items()):
            commented = rel.endswith((".yaml", ".yml")) and 0 < line <= len(lines) and _COMMENT.match(lines[line - 1])
            yield finding("secrets/credential-in-comment" if commented else "secrets/credential",
                          f"looks like a committed credential{' in a comment' if commented else ''} ({', '.join(kinds)})",
                          rel, line, "remove it (a comment is in Git's history too), rotate it, and keep it in "
                          "Bitwarden Secrets Manager (a BitwardenSecret syncs it)")


@rule("secrets/secret-data", "no Kubernetes Secret with data or stringData in Git",
      also={"secrets/bitwarden-auth-token": "every BitwardenSecret names its auth token Secret and key"})
def secret_data(ctx: CheckContext):
    for o in ctx.tree.objects:
        if o.kind == "Secret" and o.group == "" and o.release:
            yield from _rendered_secret(ctx, o)
        elif o.kind == "Secret" and o.group == "":
            if "sops" in o.body:
                continue  # SOPS-encrypted: ciphertext, decrypted by the controller
            for field in ("data", "stringData"):
                if o.body.get(field):
                    yield finding("secrets/secret-data", f"{where(o)} carries {field} in Git", o.file or None, o.line_of(field),
                                  "use a BitwardenSecret (k8s.bitwarden.com/v1) that creates this Secret from Secrets Manager")
        elif o.kind == "BitwardenSecret" and o.group == "k8s.bitwarden.com":
            tok = o.spec.get("authToken") if isinstance(o.spec.get("authToken"), dict) else {}
            missing = [k for k in ("secretName", "secretKey") if not tok.get(k)]
            if missing:
                yield finding("secrets/bitwarden-auth-token", f"{where(o)}: spec.authToken lacks {' and '.join(missing)}", o.file or None,
                              o.line_of("spec", "authToken") if tok else o.line_of("spec"),
                              "set authToken {secretName: bw-auth-token, secretKey: token}; that Secret lives in the "
                              "same namespace and is created once by hand")


def _rendered_secret(ctx: CheckContext, o) -> Iterator[Finding]:
    """A chart's Secret is made from the release's values, which are in Git: it is a finding when
    what it holds looks like a credential (the chart's own generated Secrets hold configuration)."""
    import base64
    import binascii
    import json

    lines: list[str] = []
    for field in ("data", "stringData"):
        for key, value in (o.body.get(field) or {}).items():
            text = str(value)
            if field == "data":
                try:
                    text = base64.b64decode(text).decode("utf-8", "replace")
                except (binascii.Error, ValueError):
                    continue
            lines += [f"{key}: {line}" for line in text.splitlines()]
    if not lines:
        return
    key = "detect-secrets-rendered-1:" + digest(json.dumps(lines))
    hits = ctx.cache.get("secrets", key)
    if hits is None:
        hits = _scan_files([(o.template, lines)]).get(o.template, []) if might_hold_secret("\n".join(lines)) else []
        ctx.cache.put("secrets", key, hits)
    if hits:
        kinds = ", ".join(sorted({kind for _, kind in hits}))
        yield finding("secrets/secret-data",
                      f"{where(o)} holds what looks like a credential ({kinds}): it comes from the release's values, "
                      "so it is in Git", o.file or None, o.line,
                      "keep the credential in a BitwardenSecret and point the chart at that Secret "
                      "(its existingSecret-style value)")
