"""Server-Sent Events, as berth sends them: `event:`, `id:`, one `data:` JSON line, a blank
line between events; comment lines (`:` keep-alives) are skipped."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, AsyncIterator, Iterator, Optional


@dataclass
class SseEvent:
    event: str
    id: Optional[str]
    data: Any


class Parser:
    def __init__(self) -> None:
        self.event, self.id, self.data = "message", None, []

    def line(self, line: str) -> Optional[SseEvent]:
        """Feeds one line (without its newline); returns an event at its blank line."""
        if line == "":
            if not self.data:
                self.event, self.id = "message", None
                return None
            text = "\n".join(self.data)
            try:
                data = json.loads(text)
            except ValueError:
                data = text
            out = SseEvent(self.event, self.id, data)
            self.event, self.id, self.data = "message", None, []
            return out
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            self.event = value
        elif name == "id":
            self.id = value
        elif name == "data":
            self.data.append(value)
        return None


def events(lines: Iterator[str]) -> Iterator[SseEvent]:
    p = Parser()
    for line in lines:
        ev = p.line(line.rstrip("\r"))
        if ev is not None:
            yield ev


async def aevents(lines: AsyncIterator[str]) -> AsyncIterator[SseEvent]:
    p = Parser()
    async for line in lines:
        ev = p.line(line.rstrip("\r"))
        if ev is not None:
            yield ev
