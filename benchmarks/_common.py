"""What the benchmark scripts share: naming the machine and updating BENCHMARKS.md."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cpu_name() -> str:
    """The CPU's model name from /proc/cpuinfo, or 'unknown CPU'."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def write_section(title: str, text: str) -> None:
    """Replace the BENCHMARKS.md section headed ``title`` (a '## ...' line), or append it."""
    path = ROOT / "BENCHMARKS.md"
    old = path.read_text() if path.exists() else "# Benchmarks\n"
    section = f"{title}\n\n{text}\n"
    pattern = re.compile(re.escape(title) + r"\n.*?(?=\n## |\Z)", re.S)
    new = (
        pattern.sub(lambda _: section, old)
        if pattern.search(old)
        else (old.rstrip() + "\n\n" + section)
    )
    path.write_text(new)
