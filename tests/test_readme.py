"""The README's Python API examples run as written on freshly generated logs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from chainmine.miner.generate import generate_logs

README = Path(__file__).resolve().parent.parent / "README.md"


def _python_blocks(heading: str) -> str:
    """Every python block of one README section, in order, as one script."""
    text = README.read_text()
    section = text[text.index(heading) + len(heading):]
    section = section[:section.find("\n## ")] if "\n## " in section else section
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert blocks, f"no python example under {heading}"
    return "\n".join(blocks)


def test_python_api_example_runs(tmp_path):
    generate_logs(tmp_path / "logs.jsonl", sessions=600, seed=3)
    prelude = ("import json\n"
               "records = [json.loads(line) for line in open('logs.jsonl')][:3000]\n")
    script = tmp_path / "example.py"
    script.write_text(prelude + _python_blocks("## Python API") + "\nassert result.status == 'completed', result.error\n")
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "{'d': 42}" in done.stdout and "completed" in done.stdout
