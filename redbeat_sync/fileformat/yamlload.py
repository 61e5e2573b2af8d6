"""Safe, bounded YAML reading that remembers where every key and value was written.

libyaml (``yaml.CSafeLoader``) only *parses*; the values are built here from its
events.  Building them ourselves lets us

- keep the line:column of every key and value, so a problem found later by the
  pydantic models can point at the exact place in the file;
- accept only YAML's plain data tags (no ``!!python/...``, ``!!binary``, ``!!set``);
- report duplicate keys (PyYAML silently keeps the last one) naming both lines;
- bound nesting depth and alias expansion ("billion laughs"), and the file size.

With the cyclic GC paused (which alone makes a 100k-entry file load ~4x faster) it is
about twice as fast as ``yaml.load`` with ``CSafeLoader``.  Clean files
can be read with positions for the top two levels only (``full_positions=False``).

Positions are kept in a tree parallel to the values (``Pos``):
``(line, column, kids)`` where ``kids`` is ``None`` for a scalar, a list of ``Pos`` for a
sequence, or for a mapping a dict ``key -> (key_line, key_column, value_pos)``.
Lines and columns are 1-based.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import yaml
from yaml import events as ev

from ..bulk import gc_paused

MAX_FILE_BYTES = 64 * 1024 * 1024  # a 100k-entry export is about 33 MB
MAX_DEPTH = 100
#: Entries in one file. A bound on memory before validation starts (a 50 MB file of
#: tiny entries would otherwise need gigabytes); split bigger schedules across files.
MAX_ENTRIES_PER_FILE = 200_000
ALIAS_BASE_BUDGET = 10_000
ALIAS_FACTOR = 10

_TAG = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_TAG + t for t in ("str", "int", "float", "bool", "null", "timestamp")}
_MAP_TAG = _TAG + "map"
_SEQ_TAG = _TAG + "seq"
_STR_TAG = _TAG + "str"
_ALLOWED = "str, int, float, bool, null, timestamp, seq, map"

Pos = tuple[int, int, Any]
Path_ = tuple[Any, ...]

_Loader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_RESOLVER = yaml.resolver.Resolver()
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_PLAIN = (True, False)


@dataclass(frozen=True)
class YamlProblem:
    line: int
    column: int
    path: Path_  # where in the document (keys and indexes), for the dotted field name
    message: str


@dataclass
class YamlDocument:
    """The values of one file, their positions, and what was wrong with the text."""

    value: Any
    pos: Pos
    problems: list[YamlProblem] = field(default_factory=list)
    full_positions: bool = True

    @property
    def ok(self) -> bool:
        return not self.problems


class _Abort(Exception):
    """Stop reading this file: the rest cannot be trusted (or would cost too much)."""

    def __init__(self, problem: YamlProblem) -> None:
        self.problem = problem


class _Frame:
    """A mapping or sequence being built."""

    __slots__ = ("anchor", "column", "is_map", "key", "key_pos", "kids", "line", "merges", "value")

    def __init__(self, is_map: bool, anchor: str | None, line: int, column: int) -> None:
        self.is_map = is_map
        self.anchor = anchor
        self.line = line
        self.column = column
        self.value: Any = {} if is_map else []
        self.kids: Any = {} if is_map else []
        # For mappings: the pending key (None when a key comes next) and where it was.
        self.key: Any = None
        self.key_pos: tuple[int, int] = (0, 0)
        self.merges: list[tuple[Any, Pos]] = []


class _NeedPositions(Exception):
    """A problem was found while reading without positions: read again with them."""


_SKIP_KEY = object()  # a key that was a problem: its value is read and dropped
_MERGE_KEY = object()


def read_file(
    path: str | Path, *, max_bytes: int = MAX_FILE_BYTES, full_positions: bool = True
) -> YamlDocument:
    """Read and build one YAML file; unreadable or oversized files become problems."""
    try:
        size = Path(path).stat().st_size
        if size > max_bytes:
            return _failed(
                f"file is {_bytes(size)}, more than the {_bytes(max_bytes)} limit; "
                "split the schedule into several files"
            )
        with open(path, "rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        return _failed(f"cannot read file: {exc.strerror or exc}")
    if len(data) > max_bytes:
        return _failed(f"file is larger than the {_bytes(max_bytes)} limit")
    return load_bytes(data, full_positions=full_positions)


def _bytes(size: int) -> str:
    if size >= 1048576:
        return f"{size / 1048576:.1f} MiB"
    return f"{size / 1024:.1f} KiB"


def _failed(message: str, line: int = 0, column: int = 0) -> YamlDocument:
    return YamlDocument(None, (line, column, None), [YamlProblem(line, column, (), message)])


def load_bytes(data: bytes, *, full_positions: bool = True) -> YamlDocument:
    """Build the single YAML document in ``data`` (UTF-8).

    With ``full_positions=False`` only the top two levels (the file's keys and the
    entry names) get positions, which is faster; ``YamlDocument.full_positions`` says
    which was done, and any YAML problem makes it read again with full positions.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        column = len(data[line_start : exc.start].decode("utf-8", "replace")) + 1
        message = f"invalid UTF-8 (byte 0x{data[exc.start]:02x}); save the file as UTF-8"
        return _failed(message, line, column)
    if not full_positions:
        try:
            return _Builder(data, full_positions=False).build()
        except _NeedPositions:
            pass
    return _Builder(data, full_positions=True).build()


def load_text(text: str) -> YamlDocument:
    return load_bytes(text.encode("utf-8", "surrogatepass"))


def _reader_problem(data: bytes, exc: yaml.reader.ReaderError) -> YamlProblem:
    """A bad character (e.g. NUL) as one line at its line and column."""
    offset = max(0, min(int(exc.position), len(data)))
    line = data.count(b"\n", 0, offset) + 1
    column = offset - data.rfind(b"\n", 0, offset)
    char = exc.character
    shown = f"#x{char:04x}" if isinstance(char, int) else repr(char)
    return YamlProblem(
        line, column, (), f"invalid YAML: unacceptable character {shown}: {exc.reason}"
    )


class _Builder:
    """Turns libyaml's events into values and positions (one flat loop: this is hot)."""

    def __init__(self, data: bytes, *, full_positions: bool = True) -> None:
        self.data = data
        self.full = full_positions
        # Expanded-node budget for aliases: a document without aliases has fewer nodes
        # than bytes, so only repeated anchors can exceed this.
        self.budget = ALIAS_BASE_BUDGET + ALIAS_FACTOR * len(data)
        self.expanded = 0
        self.anchors: dict[str, tuple[Any, Pos]] = {}
        self.sizes: dict[int, int] = {}
        self.stack: list[_Frame] = []
        self.problems: list[YamlProblem] = []
        self.second_level_keys = 0

    def build(self) -> YamlDocument:
        loader = _Loader(self.data)
        try:
            with gc_paused():
                value, pos = self._run(loader)
        except _Abort as stop:
            return self._document(None, (0, 0, None), stop.problem)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line, column = (mark.line + 1, mark.column + 1) if mark else (0, 0)
            message = exc.problem or str(exc)
            if exc.context:
                message = f"{exc.context}: {message}"
            message += _syntax_hint(message, self.data, line, column)
            problem = YamlProblem(line, column, (), f"invalid YAML: {message}")
            return self._document(None, (0, 0, None), problem)
        except yaml.reader.ReaderError as exc:
            # Not a MarkedYAMLError: only a byte offset, and str() spans two lines.
            problem = _reader_problem(self.data, exc)
            return self._document(None, (0, 0, None), problem)
        except yaml.YAMLError as exc:
            problem = YamlProblem(0, 0, (), f"invalid YAML: {exc}")
            return self._document(None, (0, 0, None), problem)
        finally:
            dispose = getattr(loader, "dispose", None)
            if dispose is not None:
                dispose()
        return self._document(value, pos)

    def _document(self, value: Any, pos: Pos, fatal: YamlProblem | None = None) -> YamlDocument:
        problems = [*self.problems, fatal] if fatal else self.problems
        return YamlDocument(value, pos, problems, self.full)

    def _run(self, loader: Any) -> tuple[Any, Pos]:
        get_event = loader.get_event
        stack = self.stack
        full = self.full
        scalar_event, alias_event = ev.ScalarEvent, ev.AliasEvent
        map_start, seq_start = ev.MappingStartEvent, ev.SequenceStartEvent
        map_end, seq_end = ev.MappingEndEvent, ev.SequenceEndEvent
        doc_start = ev.DocumentStartEvent
        plain_cache: dict[str, tuple[Any, str | None]] = {}
        merge_key, skip_key = _MERGE_KEY, _SKIP_KEY
        root: list[tuple[Any, Pos]] = []
        documents = 0
        nodes = 0
        top: _Frame | None = None
        pos: Pos | None
        while True:
            event = get_event()
            if event is None:
                break
            kind = type(event)
            # Without full positions, only the file's keys and the entry names (the
            # first two levels) are located: problems send us back for the rest.
            shallow = full or len(stack) <= 2
            if kind is scalar_event:
                nodes += 1
                tag = event.tag
                if shallow:
                    mark = event.start_mark
                    line = mark.line + 1
                    column = mark.column + 1
                else:
                    line = column = 0
                if top is not None and top.is_map and top.key is None:
                    # A key.  Plain keys are names: `on:`, `no:` or `1:` stay strings
                    # (as in YAML 1.2 editors); `<<` is YAML's merge key.
                    if tag is None or tag == "!" or tag == _STR_TAG:
                        text = event.value
                        if text == "<<" and tag is None and event.implicit[0]:
                            top.key = merge_key
                        else:
                            top.key = text
                    else:
                        self._problem(event, "mapping keys must be plain strings")
                        top.key = skip_key
                    if shallow:
                        top.key_pos = (line, column)
                    if len(stack) == 2:  # a key of `entries:` (or `defaults:`)
                        self.second_level_keys += 1
                        if self.second_level_keys > MAX_ENTRIES_PER_FILE:
                            raise _Abort(
                                YamlProblem(
                                    line,
                                    column,
                                    self._path(),
                                    f"more than {MAX_ENTRIES_PER_FILE:,} entries in one file; "
                                    "split the schedules across several files",
                                )
                            )
                    if event.anchor is not None:
                        self.anchors[event.anchor] = (event.value, (line, column, None))
                    continue
                text = event.value
                if tag is None:
                    if event.implicit[0]:
                        cached = plain_cache.get(text)
                        if cached is None:
                            cached = _resolve_plain(text)
                            plain_cache[text] = cached
                        value = cached[0]
                        if cached[1] is not None:
                            self._problem(event, cached[1])
                    else:
                        value = text
                elif tag == "!" or tag == _STR_TAG:
                    value = text
                elif tag in _SCALAR_TAGS:
                    value, error = _construct(tag, text)
                    if error:
                        self._problem(event, error)
                else:
                    self._problem(event, _tag_message(tag))
                    value = text
                pos = (line, column, None) if shallow else None
                if event.anchor is not None:
                    self.anchors[event.anchor] = (value, (line, column, None))
            elif kind is map_start or kind is seq_start:
                nodes += 1
                mark = event.start_mark
                line = mark.line + 1
                column = mark.column + 1
                is_map = kind is map_start
                if top is not None and top.is_map and top.key is None:
                    self._problem(event, "mapping keys must be plain strings")
                    top.key = skip_key
                    top.key_pos = (line, column)
                if len(stack) >= MAX_DEPTH:
                    raise _Abort(
                        YamlProblem(
                            line, column, self._path(), f"nested more than {MAX_DEPTH} levels deep"
                        )
                    )
                tag = event.tag
                if tag is not None and tag != "!" and tag != (_MAP_TAG if is_map else _SEQ_TAG):
                    self._problem(event, _tag_message(tag))
                top = _Frame(is_map, event.anchor, line, column)
                stack.append(top)
                continue
            elif kind is map_end or kind is seq_end:
                frame = stack.pop()
                if frame.merges:
                    stack.append(frame)  # so problems name the right path
                    self._apply_merges(frame)
                    stack.pop()
                top = stack[-1] if stack else None
                shallow = full or len(stack) <= 2
                value = frame.value
                pos = (frame.line, frame.column, frame.kids)
                if frame.anchor is not None:
                    self.anchors[frame.anchor] = (value, pos)
            elif kind is alias_event:
                nodes += 1
                value, pos = self._alias(event)
                if top is not None and top.is_map and top.key is None:
                    if isinstance(value, str):
                        top.key = value
                        top.key_pos = (pos[0], pos[1])
                    else:
                        self._problem(event, "mapping keys must be plain strings")
                        top.key = skip_key
                    continue
            elif kind is doc_start:
                documents += 1
                if documents > 1:
                    mark = event.start_mark
                    raise _Abort(
                        YamlProblem(
                            mark.line + 1,
                            mark.column + 1,
                            (),
                            "more than one YAML document ('---') in a file; "
                            "put each schedule in its own file",
                        )
                    )
                continue
            else:
                continue
            # Hand the finished value to its parent.
            if top is None:
                root.append((value, pos or (1, 1, None)))
            elif not top.is_map:
                top.value.append(value)
                if shallow:
                    top.kids.append(pos)
            else:
                key = top.key
                top.key = None
                if key.__class__ is str:
                    values = top.value
                    if key in values:
                        self._duplicate(key, top)
                    else:
                        values[key] = value
                        if shallow:
                            top.kids[key] = (*top.key_pos, pos)
                elif key is merge_key:
                    if not full:
                        raise _NeedPositions
                    top.merges.append((value, cast(Pos, pos)))  # full: every node has one
        if not root:
            return None, (1, 1, None)
        return root[0]

    # ------------------------------------------------------------------ rare paths

    def _path(self, extra: tuple[Any, ...] = ()) -> Path_:
        parts: list[Any] = []
        for frame in self.stack:
            if frame.is_map:
                if isinstance(frame.key, str):
                    parts.append(frame.key)
            else:
                parts.append(len(frame.value))
        return (*parts, *extra)

    def _problem(self, event: Any, message: str) -> None:
        if not self.full:
            raise _NeedPositions
        mark = event.start_mark
        self.problems.append(YamlProblem(mark.line + 1, mark.column + 1, self._path(), message))

    def _duplicate(self, key: str, frame: _Frame) -> None:
        if not self.full:
            raise _NeedPositions
        line, column = frame.key_pos
        first_line = frame.kids[key][0]
        self.problems.append(
            YamlProblem(
                line,
                column,
                (*self._path(), key),
                f"duplicate key {key!r} (first at line {first_line}); remove or rename one of them",
            )
        )

    def _apply_merges(self, frame: _Frame) -> None:
        """YAML merge keys (``<<: *base``): keys written here win, then earlier sources."""
        sources: list[tuple[Any, Pos]] = []
        for value, pos in frame.merges:
            if isinstance(value, dict):
                sources.append((value, pos))
            elif isinstance(value, list) and all(isinstance(v, dict) for v in value):
                sources.extend(zip(value, pos[2], strict=True))
            else:
                message = "'<<' (merge) expects a mapping or a list of mappings"
                self.problems.append(YamlProblem(pos[0], pos[1], self._path(), message))
        merged_value: dict[str, Any] = {}
        merged_kids: dict[str, Any] = {}
        for value, pos in sources:
            kids = pos[2] or {}
            for key, item in value.items():
                if key not in merged_value:
                    merged_value[key] = item
                    merged_kids[key] = kids.get(key, (pos[0], pos[1], (pos[0], pos[1], None)))
        for key, item in frame.value.items():
            merged_value[key] = item
            merged_kids[key] = frame.kids[key]
        frame.value = merged_value
        frame.kids = merged_kids

    def _alias(self, event: Any) -> tuple[Any, Pos]:
        mark = event.start_mark
        line, column = mark.line + 1, mark.column + 1
        found = self.anchors.get(event.anchor)
        if found is None:
            if any(frame.anchor == event.anchor for frame in self.stack):
                raise _Abort(
                    YamlProblem(
                        line, column, self._path(), f"alias *{event.anchor} refers to itself"
                    )
                )
            self._problem(event, f"unknown alias *{event.anchor} (no such &anchor above)")
            return None, (line, column, None)
        value, pos = found
        self.expanded += self._size(value)
        if self.expanded > self.budget:
            raise _Abort(
                YamlProblem(
                    line,
                    column,
                    self._path(),
                    f"alias expansion too large (more than {self.budget} values); "
                    "the document repeats anchors too often",
                )
            )
        # Values are never mutated after building, so the alias can share them.
        return value, (line, column, pos[2])

    def _size(self, value: Any) -> int:
        """Nodes in ``value`` with shared (aliased) parts counted each time they appear."""
        if not isinstance(value, (dict, list)):
            return 1
        known = self.sizes.get(id(value))
        if known is not None:
            return known
        items = value.values() if isinstance(value, dict) else value
        total = 1 + sum(self._size(item) for item in items)
        self.sizes[id(value)] = total
        return total


def _syntax_hint(message: str, data: bytes, line: int, column: int) -> str:
    """A hint for the YAML mistakes schedule files make most."""
    if "scanning an alias" in message:
        return '; a value starting with * must be quoted, like cron: "*/5 * * * *"'
    lines = data.split(b"\n")
    text = lines[line - 1].decode("utf-8", "replace") if 0 < line <= len(lines) else ""
    if "\t" in text[: max(column, 1)]:
        return "; indent with spaces, not tabs"
    return ""


def _resolve_plain(text: str) -> tuple[Any, str | None]:
    tag = _RESOLVER.resolve(yaml.ScalarNode, text, _PLAIN)
    if tag == _STR_TAG or tag not in _SCALAR_TAGS:
        return text, None  # includes `<<` and `=` outside keys: just text
    return _construct(tag, text)


def _tag_message(tag: str) -> str:
    return f"tag {_short(tag)} is not allowed; use plain YAML values ({_ALLOWED})"


def _construct(tag: str, text: str) -> tuple[Any, str | None]:
    node = yaml.ScalarNode(tag, text)
    try:
        if tag == _TAG + "null":
            return None, None
        if tag == _TAG + "bool":
            return _CONSTRUCTOR.construct_yaml_bool(node), None
        if tag == _TAG + "int":
            return _CONSTRUCTOR.construct_yaml_int(node), None
        if tag == _TAG + "float":
            return _CONSTRUCTOR.construct_yaml_float(node), None
        value = _CONSTRUCTOR.construct_yaml_timestamp(node)
    except (ValueError, KeyError, TypeError, AttributeError, OverflowError, yaml.YAMLError):
        return text, f"cannot read {text!r} as {_short(tag)}"
    if not isinstance(value, _dt.datetime):
        return text, None  # a bare date stays text, as JSON would carry it
    return value, None


def _short(tag: str) -> str:
    return "!!" + tag[len(_TAG) :] if tag.startswith(_TAG) else tag


# ---------------------------------------------------------------------- positions


def locate(pos: Pos, path: Path_) -> tuple[int, int]:
    """Line and column for ``path``: the value if it exists, else the nearest parent key."""
    current: Any = pos
    for part in path:
        kids = current[2]
        if isinstance(kids, dict) and isinstance(part, str) and part in kids:
            current = kids[part][2]
        elif isinstance(kids, list) and isinstance(part, int) and 0 <= part < len(kids):
            current = kids[part]
        else:
            return _parent_key(pos, path)
    return current[0], current[1]


def _parent_key(pos: Pos, path: Path_) -> tuple[int, int]:
    """Position of the deepest existing key on ``path`` (where a missing field belongs)."""
    line, column = pos[0], pos[1]
    current: Any = pos
    for part in path:
        kids = current[2]
        if isinstance(kids, dict) and isinstance(part, str) and part in kids:
            kline, kcol, current = kids[part]
            line, column = kline, kcol
        elif isinstance(kids, list) and isinstance(part, int) and 0 <= part < len(kids):
            current = kids[part]
            line, column = current[0], current[1]
        else:
            break
    return line, column


def locate_key(pos: Pos, path: Path_) -> tuple[int, int]:
    """Line and column of the key that ends ``path`` (for unknown or duplicate fields)."""
    return _parent_key(pos, path)
