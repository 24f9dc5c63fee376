"""Terminal output: never reading user or cluster text as Rich markup, and fitting the screen.

Names, paths, regular expressions and condition messages are full of square brackets
(`[/dev/sdb]`, `[a-z0-9]`, `[/x]`): printed as markup they are eaten, restyled, or crash the
print. Everything that is not our own literal styling goes through `Text` here, and every Console
is made here (`console` for tables and reports, `messages` for errors and progress), none of them
reading markup-like text as emoji codes or highlighting it.

How wide the screen is has one answer for every table and report: `--wide` means no limit (one
line per row, for grep and wide screens); otherwise `$COLUMNS` when set, else the terminal's
width, else 80 (a pipe or a file). This is Rich's own rule, so rich tables and plain wrapped text
agree.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from typing import Any, TypeVar

import click
from rich.console import Console, RenderableType
from rich.segment import Segment, Segments
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


# -- fitting the screen ---------------------------------------------------------------------------

# A console this wide never wraps: tables take their natural width, lines stay whole.
UNLIMITED = 10_000
# Below this many columns for its last column, a table is printed stacked (one block per row).
MIN_LAST_COLUMN = 40

F = TypeVar("F", bound=Callable[..., Any])


def wide_option(fn: F) -> F:
    """The `--wide` flag every table-printing command takes."""
    return click.option("--wide", is_flag=True,
                        help="Do not fit the output to the terminal: one line per row (for grep and wide "
                             "screens). Without it the width is $COLUMNS, else the terminal's, else 80.")(fn)


def console(*, wide: bool = False, stderr: bool = False) -> Console:
    """A Console at the screen's width (see the module docstring); colour only on a terminal."""
    # emoji=False: a `:name:` in a name or message stays as written.
    return Console(width=UNLIMITED if wide else None, stderr=stderr, highlight=False, soft_wrap=False, emoji=False)


def messages(*, stderr: bool = True) -> Console:
    """A Console for errors and progress messages: lines Rich never breaks (the terminal folds them, a
    log file keeps each whole, so a path in a message stays one word)."""
    return Console(stderr=stderr, highlight=False, soft_wrap=True, emoji=False)


def width(*, wide: bool = False) -> int | None:
    """Columns available for plain text; None when nothing should be wrapped."""
    return None if wide else Console().width


def wrap(text: str, width: int | None, indent: str, first: str | None = None) -> list[str]:
    """`text` as lines of at most `width` columns, each continuation line starting with `indent`.

    `first` prefixes the first line (default: `indent`). Long words (paths, URLs) are kept whole
    rather than cut, so they can be copied.
    """
    first = indent if first is None else first
    if width is None:
        return [first + text]
    return textwrap.wrap(text, width=max(width, len(first) + 20), initial_indent=first, subsequent_indent=indent,
                         break_long_words=False, break_on_hyphens=False) or [first.rstrip()]


def show(con: Console, renderable: RenderableType) -> None:
    """Print a table (or any renderable) without the blanks Rich pads each line with.

    Rich fills every row to the table's full width; in a pipe, a file or a snapshot those trailing
    spaces are noise (and a `--wide` table can be hundreds of columns wide).
    """
    for line in con.render_lines(renderable, pad=False, new_lines=False):
        while line and not line[-1].text.strip() and not line[-1].control:
            line.pop()
        if line:
            last = line[-1]
            line[-1] = Segment(last.text.rstrip(), last.style, last.control)
        con.print(Segments([*line, Segment.line()]))
