"""The one writer: every file the tool writes goes through here, whole or not at all.

Single files (`write_atomic`, `PendingFile` for streamed downloads): a temporary file in the
target's folder, renamed into place; a rename within one folder is atomic on POSIX, so a reader
sees the old file or the new one. Temporaries carry their writer's pid, and those of runs that
died (their pid is gone) are removed when the same folder is written again.

Sets of files (`commit(files, root)`: the glue of `homelab render`, state, the inventory, a new
app) change as one: every new content is first staged in `.homelab/staging/<pid>-<n>/` (inside the
repository, so on its file system, and ignored by Git, so no tool watching the tree sees a
half-written file); then each existing target is hard-linked there as a backup, a journal is
written, and the staged files are renamed over their targets. A failure at any step (a full disk,
a read-only folder, a glue path that is a directory) rolls back what was renamed: every file is
then old, or every one is new. A run killed half way leaves its journal, and the next write (or
the next run that takes the lock, homelab.runlock) rolls it back before doing anything else.
Problems are HomelabErrors naming the file: nothing is changed, exit code 2.
"""

from __future__ import annotations

import errno
import itertools
import json
import os
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO

from homelab.errors import HomelabError

STAGING = ".homelab/staging"
JOURNAL = "journal.json"
_seq = itertools.count()


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def private_dir(path: Path) -> Path:
    """Create `path` (and its parents) readable by its owner only (0700): it may hold logs and plans."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def _why(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "no space left on device"
    if exc.errno == errno.EROFS:
        return "the file system is read-only"
    if exc.errno == errno.EISDIR:
        return "is a directory"
    return exc.strerror or str(exc)


def _fail(name: str, exc: OSError | str, hint: str = "") -> HomelabError:
    why = exc if isinstance(exc, str) else _why(exc)
    return HomelabError.single(name, f"cannot write: {why}; nothing was changed",
                               hint=hint or "free space or fix the permissions, then run the command again")


def _writable(name: str, target: Path) -> None:
    """Refuse before anything is staged when the target's folder cannot take the file."""
    folder = next((p for p in target.parents if p.exists()), None)
    if folder is None or not folder.is_dir():
        raise _fail(name, f"{folder} is not a directory", hint="remove the file that is in the way")
    if not os.access(folder, os.W_OK):
        read_only = bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
        raise _fail(name, "the file system is read-only" if read_only else f"{folder} is not writable",
                    hint="remount it read-write or fix the permissions, then run the command again")


def _encode(data: str | bytes) -> bytes:
    return data.encode("utf-8") if isinstance(data, str) else data


def _write_new(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.fchmod(fd, mode)  # not narrowed by the umask: glue is 0644 for every reader
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)


def _unchanged(target: Path, data: bytes, mode: int) -> bool:
    """Same content, and for a private file (no group or other bits) the same mode too."""
    try:
        if not target.is_file() or target.read_bytes() != data:
            return False
        return bool(mode & 0o077) or (target.stat().st_mode & 0o777) == mode
    except OSError:
        return False


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# -- multi-file commits -----------------------------------------------------------------------------

def _undo(journal: Mapping[str, object]) -> list[str]:
    """Undo one commit: staged files removed; once renames began ("committing"), every backup
    put back and every file that was new removed. Returns the targets put back."""
    restored: list[str] = []
    committing = bool(journal.get("committing"))
    items = journal.get("items")
    for item in items if isinstance(items, list) else []:
        target, staged, backup = Path(item["target"]), Path(item["staged"]), item.get("backup")
        try:
            if committing and backup:
                os.replace(backup, target)
                restored.append(str(target))
            elif committing and not item.get("existed") and not staged.exists() and target.exists():
                target.unlink()  # it was new: the old state is its absence
                restored.append(str(target))
            if staged.exists():
                staged.unlink()
        except OSError:
            pass
    return restored


def recover(root: Path) -> list[str]:
    """Roll back the commits of runs that died half way (every file back to its old content) and
    remove their staging folders; return the targets put back."""
    base = root / STAGING
    restored: list[str] = []
    try:
        entries = sorted(base.iterdir())
    except OSError:
        return restored
    for d in entries:
        pid = int(d.name.split("-", 1)[0]) if d.name.split("-", 1)[0].isdigit() else 0
        if pid and _alive(pid):
            continue
        try:
            journal = json.loads((d / JOURNAL).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            journal = {}
        restored += _undo(journal if isinstance(journal, dict) else {})
        shutil.rmtree(d, ignore_errors=True)
    _remove_empty(base)
    return restored


_Change = tuple[str, Path, bytes, int]  # key as given, target, new content, mode


def commit(files: Mapping[str | Path, str | bytes], root: Path, *, mode: int = 0o644,
           modes: Mapping[str | Path, int] | None = None) -> list[str]:
    """Write every file whose content (or mode) changed, as one all-or-nothing change.

    Keys are paths relative to `root` (or absolute); returns the keys that changed, as given.
    """
    recover(root)
    plan = _changes(files, root, mode, modes)
    if not plan:
        return []
    stage = root / STAGING / f"{os.getpid()}-{next(_seq)}"
    made_base = not stage.parent.parent.exists()  # .homelab/: removed again if it only held the staging
    made_dirs: list[Path] = []
    journal: dict[str, object] = {"committing": False, "items": []}
    items: list[dict[str, object]] = journal["items"]  # type: ignore[assignment]
    try:
        _make_stage(stage, root)
        _stage_all(plan, stage, journal, items, made_dirs)
        journal["committing"] = True  # from here on, a kill is rolled back by the next run
        _write_journal(stage, journal)
        _rename_all(plan, items)
        for parent in {t.parent for _, t, _, _ in plan}:
            _fsync_dir(parent)
    except BaseException:
        # anything, a signal included: back to the old files before the error is reported
        _undo(journal)
        _remove_dirs(made_dirs)
        _clear(stage, made_base)
        raise
    _clear(stage, made_base)
    return [key for key, _, _, _ in plan]


def _changes(files: Mapping[str | Path, str | bytes], root: Path, mode: int,
             modes: Mapping[str | Path, int] | None) -> list[_Change]:
    """The files whose content or mode differs, each refused before anything is staged if it cannot be written."""
    plan: list[_Change] = []
    for key, content in files.items():
        target = Path(key) if Path(key).is_absolute() else root / key
        data = _encode(content)
        m = (modes or {}).get(key, mode)
        if target.is_dir():
            raise _fail(str(key), "is a directory", hint="remove or rename the directory")
        if not _unchanged(target, data, m):
            _writable(str(key), target)
            plan.append((str(key), target, data, m))
    return plan


def _make_stage(stage: Path, root: Path) -> None:
    try:
        private_dir(stage.parent.parent)
        stage.mkdir(parents=True)
    except OSError as exc:
        raise _fail(str(root / STAGING), exc) from None


def _stage_all(plan: list[_Change], stage: Path, journal: Mapping[str, object], items: list[dict[str, object]],
               made_dirs: list[Path]) -> None:
    """Write every new content beside its backup, journalling each file before it is touched."""
    dev = stage.stat().st_dev
    for i, (key, target, data, m) in enumerate(plan):
        try:
            _make_parents(target, made_dirs)
            staged = _staged_path(stage, i, target, dev)
            items.append({"target": str(target), "staged": str(staged), "backup": None,
                          "existed": target.exists()})
            _write_journal(stage, journal)
            _write_new(staged, data, m)
            if target.exists():
                backup = stage / f"{i}.old"
                _back_up(target, backup)
                items[-1]["backup"] = str(backup)
        except OSError as exc:
            raise _fail(key, exc) from None


def _make_parents(target: Path, made_dirs: list[Path]) -> None:
    """Create the target's missing folders, each noted so that a rollback removes it again."""
    for parent in reversed(target.parents):
        if not parent.exists():
            parent.mkdir()
            made_dirs.append(parent)


def _staged_path(stage: Path, i: int, target: Path, dev: int) -> Path:
    if target.parent.stat().st_dev == dev:
        return stage / f"{i}.new"
    # another file system: staged beside the target, so the rename stays atomic
    _clean_stale(target.parent, f".{target.name}.")
    return target.parent / f".{target.name}.homelab-{os.getpid()}-{next(_seq)}.tmp"


def _back_up(target: Path, backup: Path) -> None:
    try:
        os.link(target, backup)
    except OSError:
        shutil.copy2(target, backup)


def _rename_all(plan: list[_Change], items: list[dict[str, object]]) -> None:
    for i, (key, target, _, _) in enumerate(plan):
        try:
            os.replace(str(items[i]["staged"]), target)
        except OSError as exc:
            raise _fail(key, exc) from None


def _remove_dirs(made_dirs: list[Path]) -> None:
    """The folders a failed commit created, deepest first (a folder someone else filled meanwhile stays)."""
    for d in reversed(made_dirs):
        _remove_empty(d)


def _clear(stage: Path, made_base: bool) -> None:
    shutil.rmtree(stage, ignore_errors=True)
    _remove_empty(stage.parent)
    if made_base:
        _remove_empty(stage.parent.parent)


def _remove_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass


def _write_journal(stage: Path, journal: Mapping[str, object]) -> None:
    tmp = stage / (JOURNAL + ".tmp")
    try:
        tmp.write_text(json.dumps(journal), encoding="utf-8")
        os.replace(tmp, stage / JOURNAL)
    except OSError as exc:
        raise _fail(str(stage / JOURNAL), exc) from None


# -- single files -------------------------------------------------------------------------------

class PendingFile:
    """A temporary file in `folder`, open for writing until `commit` renames it into place."""

    def __init__(self, folder: Path, prefix: str = ".pending."):
        folder.mkdir(parents=True, exist_ok=True)
        _clean_stale(folder, prefix)
        self.path = folder / f"{prefix}homelab-{os.getpid()}-{next(_seq)}.tmp"
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self.file: BinaryIO = os.fdopen(fd, "wb")
        self._done = False

    def commit(self, target: Path, mode: int = 0o644) -> None:
        """Rename the finished file to `target` (in the same folder: atomic)."""
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        os.chmod(self.path, mode)
        os.replace(self.path, target)
        self._done = True

    def discard(self) -> None:
        if not self._done:
            self.file.close()
            with suppress(FileNotFoundError):
                self.path.unlink()
            self._done = True


@contextmanager
def pending_file(folder: Path, prefix: str = ".pending.") -> Iterator[PendingFile]:
    """A `PendingFile` that is removed unless committed before the block ends (errors and signals included)."""
    pending = PendingFile(folder, prefix)
    try:
        yield pending
    finally:
        pending.discard()


def write_atomic(target: Path, data: str | bytes, mode: int = 0o644) -> bool:
    """Write `data` to `target` atomically; False (and nothing written) when it is already there.
    Raises OSError (the CLI reports it in one line)."""
    raw = _encode(data)
    if _unchanged(target, raw, mode):
        return False
    with pending_file(target.parent, prefix=f".{target.name}.") as pending:
        pending.file.write(raw)
        pending.commit(target, mode)
    return True


def _clean_stale(folder: Path, prefix: str) -> None:
    """Temporaries with `prefix` left in `folder` by runs that were killed (their pid is gone)."""
    start = f"{prefix}homelab-"
    try:
        names = [n for n in os.listdir(folder) if n.startswith(start) and n.endswith(".tmp")]
    except OSError:
        return
    for name in names:
        pid = name[len(start):].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            with suppress(OSError):
                (folder / name).unlink()
