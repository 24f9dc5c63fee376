"""The plan as one self-contained HTML page (`homelab plan -f html -o plan.html`).

Everything is inline: the styles, and the architecture and provisioning diagrams as SVG drawn from
the plan (plan/svg.py). The page runs no script and its Content-Security-Policy forbids loading
anything, so it opens offline and can be attached to a pull request or mailed as it is. It draws
the same document as the terminal and Markdown views (plan/document.py), with the drills as a
colour-coded matrix whose cells explain themselves on hover, and each finding linked to its
file:line (a path relative to the page, so the link works in a checkout).
"""

from __future__ import annotations

import os
from html import escape
from pathlib import Path

from homelab.config import HomelabConfig
from homelab.plan import svg
from homelab.plan.document import DRILL_COLUMNS, MARK, Block, Findings, Grid, Line, document
from homelab.plan.model import Plan, FindingRow

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
SEV_CLASS = {"info": "ok", "warning": "warn", "error": "fail"}

STYLE = """
:root { color-scheme: light; --ok: #1a7f37; --warn: #9a6700; --fail: #cf222e; --line: #d0d7de; --muted: #57606a; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: #1f2328; background: #f6f8fa; }
header { background: #24292f; color: #fff; padding: 14px 28px; }
header h1 { font-size: 20px; margin: 0; }
header .sub { color: #c9d1d9; font-size: 13px; }
nav { padding: 6px 28px; background: #fff; border-bottom: 1px solid var(--line); font-size: 13px; }
nav a { margin-right: 14px; color: #0969da; text-decoration: none; }
main { padding: 12px 28px 40px; max-width: 1400px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px; margin: 14px 0; }
h2 { font-size: 16px; margin: 0 0 8px; }
p { margin: 4px 0; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; font-weight: 600; }
.caption { color: var(--muted); font-size: 12px; margin-top: 6px; }
.note { color: var(--muted); }
.status { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; font-family: ui-monospace, monospace; font-size: 13px; }
.sev-ok { color: var(--ok); } .sev-warn { color: var(--warn); } .sev-fail { color: var(--fail); font-weight: 600; }
table.matrix { width: auto; min-width: 70%; }
table.matrix td.cell { text-align: center; font-weight: 600; min-width: 76px; }
table.matrix td.cell.ok { background: #dafbe1; color: var(--ok); }
table.matrix td.cell.warn { background: #fff8c5; color: var(--warn); }
table.matrix td.cell.fail { background: #ffebe9; color: var(--fail); }
table.matrix td.cell.none { color: #8c959f; }
table.matrix td.drill a { color: inherit; }
ul.findings { list-style: none; padding: 0; margin: 0; }
ul.findings li { border-left: 4px solid var(--line); padding: 4px 10px; margin: 6px 0; background: #fbfcfd; }
ul.findings li.fail { border-color: var(--fail); } ul.findings li.warn { border-color: var(--warn); } ul.findings li.ok { border-color: var(--ok); }
.badge { display: inline-block; font-size: 11px; font-weight: 700; padding: 0 6px; border-radius: 10px; margin-right: 6px; color: #fff; }
.badge.fail { background: var(--fail); } .badge.warn { background: var(--warn); } .badge.ok { background: var(--ok); }
.scope { font-weight: 600; margin-right: 6px; } .rule { font-family: ui-monospace, monospace; font-size: 12px; color: var(--muted); }
.fix { color: #0550ae; margin-top: 2px; }
a.loc { font-family: ui-monospace, monospace; font-size: 12px; margin-right: 6px; }
.diagram { overflow-x: auto; }
svg text { font: 12px system-ui, sans-serif; fill: #1f2328; }
svg text.head { font-weight: 600; }
svg text.layer { font-weight: 600; fill: var(--muted); }
svg .box rect { fill: #fff; stroke: #8c959f; }
svg .host rect { fill: #f6f8fa; } svg .host.failing > rect { stroke: var(--fail); stroke-width: 2.5; }
svg .server rect { fill: #ddf4ff; stroke: #0969da; } svg .agent rect { fill: #f6f8fa; }
svg .template rect { fill: #fff8c5; stroke: #bf8700; stroke-dasharray: 4 3; }
svg .pi rect { fill: #fbefff; stroke: #8250df; } svg .core rect { fill: #eef1f4; stroke: #57606a; }
svg .route.lan rect { fill: #dafbe1; stroke: #1a7f37; } svg .route.sso rect { fill: #ddf4ff; stroke: #0969da; }
svg .route.public rect { fill: #fff1e5; stroke: #bc4c00; } svg .step rect { fill: #fff; stroke: #0969da; }
svg .edge { stroke: #8c959f; stroke-width: 1.2; } svg .edge.faint { stroke: #d0d7de; }
svg .edge.arrow { stroke: #0969da; marker-end: url(#arrow); } svg marker path { fill: #0969da; }
"""


def _link(f: FindingRow, root: Path, out_dir: Path) -> str:
    if not f.file:
        return ""
    target = Path(os.path.relpath(root / f.file, out_dir)).as_posix()
    anchor = f"#L{f.line}" if f.line else ""
    return f'<a class="loc" href="{escape(target + anchor)}">{escape(f.at())}</a>'


def _finding(scope: str, f: FindingRow, root: Path, out_dir: Path) -> str:
    sev = SEV_CLASS[f.severity]
    scope_html = f'<a class="scope" href="#drill-{escape(scope)}">[{escape(scope)}]</a>' if scope else ""
    fix = f'<div class="fix">fix: {escape(f.hint)}</div>' if f.hint else ""
    return (f'<li class="{sev}"><span class="badge {sev}">{MARK[f.severity]}</span>{scope_html}{_link(f, root, out_dir)}'
            f'<span class="rule">{escape(f.rule)}</span><div>{escape(f.message)}</div>{fix}</li>')


def _grid(g: Grid, plan: Plan) -> str:
    if not g.rows:
        return f"<section><h2>{escape(g.title)}</h2><p>none</p></section>"
    head = "".join(f"<th>{escape(h)}</th>" for h in g.heads)
    rows = []
    if g.key == "drills":   # the matrix: each cell coloured, and its findings on hover
        by_id = {d.id: d for d in plan.drills}
        for row in g.rows:
            d = by_id[row[0].text]
            cells = [f'<td class="drill" id="drill-{escape(d.id)}"><a href="#findings-{escape(d.id)}">{escape(d.id)}</a>'
                     f'<div class="note">{escape(d.title)}</div></td>']
            for (col, rules), cell in zip(DRILL_COLUMNS, row[1:]):
                tip = "\n".join(f"{f.severity}: {f.message}" for f in d.findings if f.rule in rules)
                cls = SEV_CLASS[cell.severity] if cell.severity else "none"
                cells.append(f'<td class="cell {cls}" title="{escape(tip or col + ": not asked in this drill")}">'
                             f"{escape(cell.text)}</td>")
            rows.append("<tr>" + "".join(cells) + "</tr>")
    else:
        for row in g.rows:
            rows.append("<tr>" + "".join(f'<td class="{"sev-" + SEV_CLASS[c.severity] if c.severity else ""}">{escape(c.text)}</td>'
                                         for c in row) + "</tr>")
    table_cls = ' class="matrix"' if g.key == "drills" else ""
    caption = f'<div class="caption">{escape(g.caption)}</div>' if g.caption else ""
    return (f'<section id="{escape(g.key)}"><h2>{escape(g.title)}</h2><div class="diagram"><table{table_cls}><thead><tr>{head}</tr>'
            f"</thead><tbody>{''.join(rows)}</tbody></table></div>{caption}</section>")


def _findings(b: Findings, root: Path, out_dir: Path) -> str:
    if not b.items:
        return ""
    items = []
    seen: set[str] = set()
    for scope, f in b.items:
        if scope and scope not in seen:   # an anchor for the drill's first finding
            seen.add(scope)
            items.append(f'<li id="findings-{escape(scope)}" class="note" style="border:0;background:none">{escape(scope)}</li>')
        items.append(_finding(scope, f, root, out_dir))
    return f'<section id="{escape(b.key)}"><h2>{escape(b.title)}</h2><ul class="findings">{"".join(items)}</ul></section>'


def _block(b: Block, plan: Plan, root: Path, out_dir: Path) -> str:
    if isinstance(b, Grid):
        return _grid(b, plan)
    if isinstance(b, Findings):
        return _findings(b, root, out_dir)
    cls = f"sev-{SEV_CLASS[b.severity]}" if b.severity in ("warning", "error") else b.kind
    if b.kind == "heading":
        return f'<h2 class="{cls}">{escape(b.text)}</h2>'
    return f'<p class="{cls}">{escape(b.text)}</p>'


DRILL_KEYS = ("facts", "drills", "drill-findings", "users")
NAV = (("validation", "Validation"), ("drills", "Drills"), ("drill-findings", "Findings"), ("architecture", "Architecture"),
       ("provisioning", "Provisioning"), ("hosts", "Hosts"), ("addresses", "Addresses"), ("routes", "Routes"),
       ("tree-routes", "Flux tree"), ("budget", "Budget"))


def _body(blocks: list[Block], plan: Plan, root: Path, out_dir: Path, diagrams: str) -> str:
    """Validation and the drills first (what to act on), then the diagrams, then the inventory in document order."""
    status = [b for b in blocks if isinstance(b, Line) and b.kind == "status"]
    rows = "".join(f'<span>{escape(key)}</span><span class="{"sev-" + SEV_CLASS[b.severity] if b.severity else ""}">'
                   f"{escape(rest.strip())}</span>" for b in status for key, _, rest in [b.text.partition(" ")])
    out = [f'<section id="validation"><h2>Validation</h2><div class="status">{rows}</div></section>']
    drills = [b for b in blocks if isinstance(b, (Grid, Findings)) and b.key in DRILL_KEYS]
    verdict = [b for b in blocks if isinstance(b, Line) and b.kind == "heading" and "drill error(s)" in b.text]
    out.append('<div id="drill-section">' + "".join(_block(b, plan, root, out_dir) for b in drills + verdict) + "</div>")
    out.append(diagrams)
    loose: list[str] = []   # consecutive lines (storage, Flux order) share one section
    for b in blocks:
        if b in drills or b in verdict or (isinstance(b, Line) and b.kind in ("title", "status")):
            continue
        if isinstance(b, Line):
            loose.append(_block(b, plan, root, out_dir))
            continue
        if loose:
            out.append("<section>" + "".join(loose) + "</section>")
            loose = []
        out.append(_block(b, plan, root, out_dir))
    if loose:
        out.append("<section>" + "".join(loose) + "</section>")
    return "\n".join(out)


def page(plan: Plan, cfg: HomelabConfig, *, root: Path, out_dir: Path, verbose: bool = False) -> str:
    """The whole page. `out_dir` is where it will be written: finding links are relative to it."""
    diagrams = (f'<section id="architecture"><h2>Architecture</h2><div class="diagram">{svg.architecture(plan)}</div></section>'
                f'<section id="provisioning"><h2>Provisioning</h2><div class="diagram">'
                f"{svg.provisioning(plan, cfg.flux.repository, cfg.flux.branch)}</div></section>")
    blocks = document(plan, verbose=verbose)
    sm = plan.summary
    verdict = (f"{sm.drill_errors} drill error(s), {sm.drill_warnings} warning(s)"
               + (f"; failing: {', '.join(sm.failing_drills)}" if sm.failing_drills else ""))
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>homelab plan: {escape(plan.site.name)}</title>
<link rel="icon" href="data:,">
<style>{STYLE}</style>
</head>
<body>
<header><h1>homelab plan: {escape(plan.site.name)} ({escape(plan.site.domain)})</h1>
<div class="sub">from {escape(plan.config)}; {escape(verdict)}</div></header>
<nav>{" ".join(f'<a href="#{k}">{t}</a>' for k, t in NAV)}</nav>
<main>
{_body(blocks, plan, root.resolve(), out_dir, diagrams)}
</main>
</body>
</html>
"""
