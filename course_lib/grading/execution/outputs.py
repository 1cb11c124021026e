"""Bounds on what a graded cell's outputs may hold, applied as the kernel's messages arrive.

A notebook can print 300 MB on one line, or 200 000 lines one message at a time. The
grader must hold neither in memory, nor write it into the autograded notebook, and a
flood of output must not hide a failed check. :class:`OutputLimiter` sits in the
executor's message handling (see :class:`course_lib.grading.execution.limited_execute.LimitedExecute`),
before nbclient turns a message into an output:

* consecutive messages of one stream become one output (as Jupyter shows them), so
  200 000 prints make one output, not 200 000;
* per output: a stream, display or error output keeps at most ``per_output`` characters;
* per cell: once a cell's kept outputs reach ``per_cell`` characters, further stream and
  display output is dropped; error outputs are always kept (cut to ``per_output``), so a
  check that fails still fails;
* whatever was dropped, one note output at the end of the cell says how much. Notes are
  display outputs, not stream text: nbgrader's own ``LimitOutput`` (1000 lines per cell)
  drops every stream output past its line limit, which would take the note with it.

A single message larger than the executor's message limit never reaches Python at all:
ZeroMQ discards it (``MAXMSGSIZE`` on the grader's sockets).
"""

from __future__ import annotations

import json

from nbformat.v4 import new_output

NOTE_PREFIX = "[output limit] "
MISSING = "some of this cell's output did not reach the grader"
OUTPUT_MESSAGES = ("stream", "display_data", "execute_result", "update_display_data", "error")


def _size(value) -> int:
    return len(value) if isinstance(value, str) else len(json.dumps(value, default=str))


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit]


class OutputLimiter:
    """Per-cell accounting of output characters (see the module docstring)."""

    def __init__(self, per_output: int, per_cell: int):
        self.per_output, self.per_cell = per_output, per_cell
        self.start_cell()

    def start_cell(self) -> None:
        self.kept = 0          # characters kept in this cell
        self.dropped = 0       # characters not kept
        self.missing = False   # output that never arrived
        self._stream = None    # the last stream output created, and its extra chunks
        self._chunks: list[str] = []
        self._stream_size = 0

    def _room(self, size: int, limit: int) -> int:
        """How many of ``size`` new characters fit; count the rest as dropped."""
        fits = max(0, min(size, limit, self.per_cell - self.kept))
        self.kept += fits
        self.dropped += size - fits
        return fits

    def absorb(self, msg: dict, outputs: list, can_merge: bool) -> bool:
        """Cut ``msg``'s content to the limits in place; True when it is fully handled here.

        ``outputs`` is the cell's output list; ``can_merge`` is False while a widget
        captures output or a ``clear_output(wait=True)`` is pending.
        """
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream":
            text = content.get("text", "")
            text = text if isinstance(text, str) else str(text)
            merge = (can_merge and self._stream is not None and outputs and outputs[-1] is self._stream
                     and self._stream.get("name") == content.get("name"))
            if merge:
                fits = self._room(len(text), self.per_output - self._stream_size)
                if fits:
                    self._chunks.append(text[:fits])
                    self._stream_size += fits
                return True
            fits = self._room(len(text), self.per_output)
            if not fits:
                return True
            content["text"] = text[:fits]
            return False
        if kind == "error":   # always kept, so that a failed check stays failed
            content["ename"] = _cut(str(content.get("ename", "")), 200)
            content["evalue"] = _cut(str(content.get("evalue", "")), self.per_output)
            lines, room = [], self.per_output
            for line in content.get("traceback") or []:
                line = str(line)
                if len(line) > room:
                    lines.append(line[:room] + "\n...")
                    break
                lines.append(line)
                room -= len(line)
            content["traceback"] = lines
            return False
        data = content.get("data") or {}
        size = sum(_size(value) for value in data.values()) if isinstance(data, dict) else _size(data)
        if size <= min(self.per_output, self.per_cell - self.kept):
            self.kept += size
            return False
        self.dropped += size
        if kind == "update_display_data" or self.kept >= self.per_cell:
            return True
        content["data"] = {"text/plain": f"{NOTE_PREFIX}a display output of {size} characters was not kept"}
        content["metadata"] = {}
        return False

    def created(self, output) -> None:
        """nbclient made ``output`` from the last message absorbed; later stream text may join it."""
        if output is not None and output.get("output_type") == "stream":
            self.finish_stream()
            self._stream, self._stream_size = output, len(output.get("text", ""))

    def finish_stream(self) -> None:
        if self._stream is not None and self._chunks:
            self._stream["text"] = self._stream.get("text", "") + "".join(self._chunks)
        self._stream, self._chunks, self._stream_size = None, [], 0

    def lost(self) -> None:
        """Some of this cell's output never arrived (too much too fast, or one message too large)."""
        self.missing = True

    def finish_cell(self, outputs: list, kernel_stopped: bool = False) -> None:
        """Join merged stream text and add the notes about what was dropped or lost.

        ``kernel_stopped``: the kernel died or was stopped in this cell; its connection then
        drops, which loses no output worth a note.
        """
        self.finish_stream()
        if self.dropped:
            outputs.append(_note(f"{self.dropped} characters of this cell's output were not kept "
                                 f"(the grader keeps {self.per_output} per output and {self.per_cell} per cell)"))
        if self.missing and not kernel_stopped:
            outputs.append(_note(f"{MISSING} (too much output, or one output larger than the grader reads)"))
        self.start_cell()


def _note(text: str):
    return new_output("display_data", data={"text/plain": NOTE_PREFIX + text})


def note_text(output) -> str | None:
    """The text of a note this module left in a cell (after ``NOTE_PREFIX``), else None."""
    if output.get("output_type") not in ("display_data", "execute_result"):   # (a display cut by absorb)
        return None
    text = (output.get("data") or {}).get("text/plain", "")
    text = "".join(text) if isinstance(text, list) else str(text)
    return text[len(NOTE_PREFIX):] if text.startswith(NOTE_PREFIX) else None
