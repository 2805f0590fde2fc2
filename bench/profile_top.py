"""Top hotspots of a py-spy profile recorded with ``--format raw`` (collapsed stacks).

    profile_top.py PROFILE.txt [N]

Prints the N (default 25) frames with the most *self* samples (the frame was on top of the stack)
and the N frames with the most *inclusive* samples (the frame was anywhere on the stack), each as a
share of all samples, with ``function (file:line)`` as py-spy names them.
"""

from __future__ import annotations

import collections
import re
import sys

SITE = re.compile(r"/(?:site-packages|lib/python3\.\d+)/")


def _short(frame: str) -> str:
    # "fn (/abs/.venv/lib/python3.11/site-packages/pkg/mod.py:12)" -> "fn (pkg/mod.py:12)"
    m = re.match(r"^(.*) \((.*)\)$", frame)
    if not m:
        return frame
    fn, where = m.groups()
    parts = SITE.split(where)
    where = parts[-1] if len(parts) > 1 else where
    where = re.sub(r"^.*/src/(storyline/)", r"\1", where)
    return f"{fn} ({where})"


def main(argv: list[str]) -> int:
    path = argv[0]
    n = int(argv[1]) if len(argv) > 1 else 25
    self_counts: collections.Counter[str] = collections.Counter()
    incl_counts: collections.Counter[str] = collections.Counter()
    file_self: collections.Counter[str] = collections.Counter()
    total = 0
    with open(path) as fh:
        for line in fh:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if not stack or not count.isdigit():
                continue
            c = int(count)
            frames = [_short(f) for f in stack.split(";")]
            total += c
            self_counts[frames[-1]] += c
            file_self[re.sub(r"^.*\((.*?):\d+\)$", r"\1", frames[-1])] += c
            for f in set(frames):
                incl_counts[f] += c
    if not total:
        print("no samples")
        return 1
    print(f"{total} samples in {path}")
    for title, counter in (("self", self_counts), ("inclusive", incl_counts), ("self, by file", file_self)):
        print(f"\ntop {n} by {title} samples:")
        for frame, c in counter.most_common(n):
            print(f"  {100 * c / total:5.1f}%  {c:7d}  {frame}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
