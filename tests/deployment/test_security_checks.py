"""Security checks of the code and the repository (part of the test command)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SECRET_PATTERNS = {
    "AWS access key": re.compile(r"AKIA[0-9A-Z]{16}"),
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "issued Jounce API key": re.compile(r"jnc_[A-Za-z0-9_-]{43}"),
    "Slack or GitHub token": re.compile(r"(xox[abp]-[0-9A-Za-z-]{10,}|gh[pousr]_[0-9A-Za-z]{36})"),
    "password in a URL": re.compile(r"[a-z+]+://[^/\s:@]+:(?!llm_pass@|jounce@|p@|\.\.\.@|pass@)[^@\s/]{6,}@"),
}


def test_bandit_finds_no_issue_in_the_source():
    result = subprocess.run(
        [str(Path(sys.executable).with_name("bandit")), "-q", "-c", "pyproject.toml", "-r", "src"],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout


def test_no_secret_is_committed():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    found = []
    for name in tracked.splitlines():
        path = ROOT / name
        if not path.is_file() or path.suffix in {".png", ".js"} or path.stat().st_size > 2_000_000:
            continue
        text = path.read_text(errors="ignore")
        found += [f"{name}: {kind}" for kind, pattern in SECRET_PATTERNS.items() if pattern.search(text)]
    assert found == []


def test_the_secret_scan_recognises_what_it_looks_for():
    # Assembled here, so that no scanner (this one included) finds them whole in the source.
    samples = ["AKIA" + "ABCDEFGHIJKLMNOP", "-----BEGIN RSA " + "PRIVATE KEY-----", "jnc_" + "a" * 43,
               "postgresql://admin:" + "Sup3rSecret@db/x"]  # fmt: skip
    for sample in samples:
        assert any(pattern.search(sample) for pattern in SECRET_PATTERNS.values()), sample
