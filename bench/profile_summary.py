"""Where a web process's time went, from py-spy raw profiles, in the README's categories.

    .venv/bin/py-spy record -p PID -r 250 -f raw -o /tmp/web.txt -d 10   # one per web process
    .venv/bin/python bench/profile_summary.py /tmp/web-1.txt /tmp/web-2.txt

Each sample's stack goes to the first category one of whose markers it contains (the order
below matters: a socket write inside the fan-out counts as a websocket send). Samples of
helper threads (the thread pool waiting for work, uvicorn's supervisor pipe) are left out:
py-spy counts a thread blocked in those reads as active. So are samples whose innermost frame
is the fan-out's `os.sched_yield()` call: that is wall time given to other programs, not CPU
(py-spy sees a thread waiting for its core again as running). Both counts are printed.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# (category, markers): a stack belongs to the first category with a marker in it.
CATEGORIES: list[tuple[str, tuple[str, ...]]] = [
    ("Laravel status calls (httpx)", ("LaravelClient",)),
    ("permessage-deflate", ("permessage_deflate", "PerMessageDeflate")),
    ("websocket send", ("DirectFrameWriter.write", "WebSocketsSansIOProtocol.send", "._send_now",
                        "._write_loop")),
    ("channel layer receive + fan-out", ("_receive_message", "_do_receiving")),
    ("room join script + member list", ("RoomRepository.join",)),
    ("other Redis calls", ("redis/", "redis_batch", "redis_client")),
]
REST = "the rest (event loop, handshakes, handlers)"
HELPER_THREAD = "Thread._bootstrap"
_FRAME = re.compile(r"\((?P<path>[^():]+):(?P<line>\d+)\)$")


@cache
def _source_lines(path: str) -> list[str]:
    file = Path(path) if Path(path).is_absolute() else ROOT / path
    try:
        return file.read_text().splitlines()
    except (OSError, UnicodeDecodeError):
        return []


def _source_line(path: str, line: int) -> str:
    lines = _source_lines(path)
    return lines[line - 1] if 0 < line <= len(lines) else ""


def is_yield(stack: str) -> bool:
    """The innermost frame is a line of ours that calls os.sched_yield()."""
    match = _FRAME.search(stack.rsplit(";", 1)[-1])
    return match is not None and "sched_yield(" in _source_line(match["path"], int(match["line"]))


def category(stack: str) -> str:
    for name, markers in CATEGORIES:
        if any(marker in stack for marker in markers):
            return name
    return REST


def summarize(paths: list[Path]) -> tuple[Counter[str], int, int]:
    """(samples per category, helper-thread samples, yield samples)."""
    counts: Counter[str] = Counter()
    helpers = yields = 0
    for path in paths:
        for row in path.read_text().splitlines():
            stack, _, number = row.rpartition(" ")
            if not stack or not number.isdigit():
                continue
            samples = int(number)
            if stack.startswith(HELPER_THREAD) or f";{HELPER_THREAD}" in stack:
                helpers += samples
            elif is_yield(stack):
                yields += samples
            else:
                counts[category(stack)] += samples
    return counts, helpers, yields


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("profiles", nargs="+", type=Path, help="py-spy record -f raw outputs")
    args = parser.parse_args()
    counts, helpers, yields = summarize(args.profiles)
    total = sum(counts.values())
    if not total:
        raise SystemExit("no samples of the event loop's thread in these files")
    print(f"{total} samples counted; left out: {yields} in sched_yield, {helpers} in helper threads")
    print("| category | share |\n|---|---|")
    for name, samples in counts.most_common():
        print(f"| {name} | {100 * samples / total:.1f}% |")


if __name__ == "__main__":
    main()
