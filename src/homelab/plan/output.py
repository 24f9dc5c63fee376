"""Terminal and Markdown drawings of the plan document (plan/document.py).

The terminal view fits the console (its width, `COLUMNS`, or `--wide`): a table whose columns cannot
all keep their longest word at that width is stacked instead, one record per block, so no cell is
ever cut to `external-dn…` or squeezed to one character. Markdown keeps every table whole.
"""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from homelab.plan.document import MARK, Block, Cell, Findings, Grid, Line, document
from homelab.plan.model import Plan, FindingRow

STYLE = {"info": "green", "warning": "yellow", "error": "bold red"}
LINE_STYLE = {"title": "bold", "heading": "bold", "note": "dim", "text": "", "status": ""}


def _text(cell: Cell) -> Text:
    return Text(cell.text, style=STYLE[cell.severity] if cell.severity else "")


def _widths(grid: Grid, width: int) -> list[int] | None:
    """Column widths that fit `width`, or None when they cannot: every column keeps its longest word, and the
    `keep_whole` columns (names) their longest cell; the widest slack is given up first."""
    n = len(grid.heads)
    cells = [[grid.heads[i], *(r[i].text for r in grid.rows)] for i in range(n)]
    most = [max(len(t) for t in col) for col in cells]
    least = [most[i] if grid.heads[i] in grid.keep_whole else max(len(w) for t in cells[i] for w in t.split() or [""])
             for i in range(n)]
    room = width - 3 * (n - 1)   # a separator and one space of padding on each side between cells
    if sum(least) > room:
        return None
    widths = list(most)
    while sum(widths) > room:
        i = max(range(n), key=lambda k: (widths[k] - least[k], widths[k]))
        widths[i] -= 1
    return widths


def _table(grid: Grid, widths: list[int]) -> Table:
    t = Table(box=box.HEAVY_HEAD, show_edge=False, pad_edge=False)
    for h, w in zip(grid.heads, widths):
        t.add_column(h, width=w, overflow="fold")
    for row in grid.rows:
        t.add_row(*(_text(cell) for cell in row))
    return t


def _stacked(grid: Grid, console: Console) -> None:
    """One record per block: the first cell as its heading, the others as `Head: value`, wrapped under it."""
    console.print(Text(grid.title, style="bold"))
    for row in grid.rows:
        first, *rest = row
        console.print(Text(first.text, style="bold " + (STYLE[first.severity] if first.severity else "")))
        for head, cell in zip(grid.heads[1:], rest):
            if cell.text:
                console.print(Padding(Text.assemble((f"{head}: ", "dim"), _text(cell)), (0, 0, 0, 4), expand=False))
    if grid.caption:
        console.print(Text(grid.caption, style="dim"))


def _finding(console: Console, scope: str, f: FindingRow) -> None:
    where = f"{f.at()} " if f.file and f.line else ""
    console.print(Text.assemble((f"{MARK[f.severity]:4} ", STYLE[f.severity]), (f"[{scope}] " if scope else "", "bold"),
                                f"{where}{f.rule}: {f.message}"))
    if f.hint:
        console.print(Padding(Text(f"fix: {f.hint}", style="cyan"), (0, 0, 0, 5), expand=False))


def print_blocks(blocks: list[Block], console: Console) -> None:
    for b in blocks:
        if isinstance(b, Line):
            style = STYLE[b.severity] if b.severity in ("warning", "error") else LINE_STYLE[b.kind]
            console.print(Text(("  " if b.kind == "note" else "") + b.text, style=style))
        elif isinstance(b, Grid):
            if not b.rows:
                console.print(Text.assemble((b.title, "bold"), ": none"))
                continue
            widths = _widths(b, console.width)
            if widths is None:
                _stacked(b, console)
                continue
            # title and caption as lines of their own: the full width, not the table's
            console.print(Text(b.title, style="bold"))
            console.print(_table(b, widths))
            if b.caption:
                console.print(Text(b.caption, style="dim"))
        elif isinstance(b, Findings):
            if b.items:
                console.print(Text(b.title, style="bold"))
            for scope, f in b.items:
                _finding(console, scope, f)


def print_table(plan: Plan, console: Console, *, verbose: bool = False) -> None:
    print_blocks(document(plan, verbose=verbose), console)


# ------------------------------------------------------------------------------------------ markdown

def _esc(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(plan: Plan, *, verbose: bool = False) -> str:
    out: list[str] = []
    for b in document(plan, verbose=verbose):
        if isinstance(b, Line):
            if b.kind == "title":
                out += [f"# {b.text}", ""]
            elif b.kind == "heading":
                out += ["", f"**{b.text}**", ""]
            else:
                out.append(f"- {b.text}")
        elif isinstance(b, Grid):
            out += ["", f"## {b.title}", ""]
            if not b.rows:
                out.append("none")
                continue
            out += ["| " + " | ".join(b.heads) + " |", "|" + "---|" * len(b.heads)]
            out += ["| " + " | ".join(_esc(cell.text) for cell in row) + " |" for row in b.rows]
            if b.caption:
                out += ["", b.caption + "."]
            out.append("")
        elif isinstance(b, Findings):
            if b.items:
                out += ["", f"## {b.title}", ""]
            for scope, f in b.items:
                where = f" `{f.at()}`" if f.file and f.line else ""
                out.append(f"- **{MARK[f.severity]}**" + (f" `{scope}`" if scope else "") + f"{where} {f.rule}: {f.message}"
                           + (f" — *fix:* {f.hint}" if f.hint else ""))
    return "\n".join(out).strip() + "\n"
