"""Daily report of harbor job runs.

Reads the job log (one JSON object per line, see src/store.ts), keeps the latest version of every job, and
prints per job kind how many jobs finished, how many are dead, and the average number of attempts.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, Iterator


@dataclass
class KindSummary:
    """Counts for one job kind."""

    done: int = 0
    dead: int = 0
    queued: int = 0
    attempts: int = 0

    @property
    def mean_attempts(self) -> float:
        finished = self.done + self.dead
        return self.attempts / finished if finished else 0.0


def load_events(path: Path) -> Iterator[dict]:
    """Yield the job records of a log file in order, skipping a torn last line."""
    with path.open(encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue


def summarize_runs(events: Iterable[dict]) -> Dict[str, KindSummary]:
    """Count finished, dead and waiting jobs per kind, using only the latest record of each job.

    A job appears once per state change in the log, so earlier records of the same id are replaced by
    later ones before counting.
    """
    latest: Dict[str, dict] = {}
    for event in events:
        latest[event["id"]] = event
    summary: Dict[str, KindSummary] = defaultdict(KindSummary)
    for job in latest.values():
        s = summary[job["kind"]]
        if job["state"] == "done":
            s.done += 1
            s.attempts += job["attempts"]
        elif job["state"] == "dead":
            s.dead += 1
            s.attempts += job["attempts"]
        else:
            s.queued += 1
    return dict(summary)


def format_table(summary: Dict[str, KindSummary]) -> str:
    """Render the summary as a fixed-width text table, one row per kind, sorted by kind."""
    rows = [f"{'kind':<20} {'done':>6} {'dead':>6} {'waiting':>8} {'attempts':>9}"]
    for kind in sorted(summary):
        s = summary[kind]
        rows.append(f"{kind:<20} {s.done:>6} {s.dead:>6} {s.queued:>8} {s.mean_attempts:>9.2f}")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log", type=Path, help="path to jobs.log")
    args = parser.parse_args(argv)
    if not args.log.exists():
        print(f"no such log: {args.log}", file=sys.stderr)
        return 1
    print(format_table(summarize_runs(load_events(args.log))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
