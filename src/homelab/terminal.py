"""Terminal output that never reads user or cluster text as Rich markup.

Names, paths, regular expressions and condition messages are full of square brackets
(`[/dev/sdb]`, `[a-z0-9]`, `[/x]`): printed as markup they are eaten, restyled, or crash the
print. Everything that is not our own literal styling goes through `Text` here.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text


def row(table: Table, *cells: str | Text, style: str | None = None) -> None:
    """Add a table row whose plain-string cells are shown exactly as they are."""
    table.add_row(*(c if isinstance(c, Text) else Text(str(c)) for c in cells), style=style)


def labelled(label: str, text: str, style: str = "bold") -> Text:
    """`label: text` with only the label styled."""
    return Text.assemble((label, style), ": ", text)


def problem_line(console: Console, prefix: str, style: str, text: str) -> None:
    """One `prefix text` line (an error, a failure) with untrusted `text`."""
    console.print(Text.assemble((prefix, style), " ", text), highlight=False)
