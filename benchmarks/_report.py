"""Shared by the benchmark scripts: write a markdown table file and echo it."""

from pathlib import Path


def write_report(lines: list[str], out_path: str | Path) -> str:
    text = "\n".join(lines) + "\n"
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    Path(out_path).write_text(text)
    print(text)
    return text
