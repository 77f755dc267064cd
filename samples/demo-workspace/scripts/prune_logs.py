"""Delete rotated harbor logs older than the retention window.

Rotated logs are named jobs.log.YYYY-MM-DD; the live jobs.log is never touched. Run it from cron once a day.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
from pathlib import Path
from typing import List

ROTATED = re.compile(r"^jobs\.log\.(\d{4}-\d{2}-\d{2})$")


def expired_logs(data_dir: Path, keep_days: int, today: dt.date) -> List[Path]:
    """Return the rotated logs in data_dir whose date is more than keep_days before today."""
    cutoff = today - dt.timedelta(days=keep_days)
    out = []
    for path in sorted(data_dir.iterdir()):
        m = ROTATED.match(path.name)
        if m and dt.date.fromisoformat(m.group(1)) < cutoff:
            out.append(path)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description="Delete old rotated harbor logs.")
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--keep-days", type=int, default=14)
    parser.add_argument("--dry-run", action="store_true", help="list what would be deleted")
    args = parser.parse_args()
    for path in expired_logs(args.data_dir, args.keep_days, dt.date.today()):
        print(("would delete " if args.dry_run else "deleting ") + str(path))
        if not args.dry_run:
            path.unlink()


if __name__ == "__main__":
    main()
