"""How much code the hot path takes: the cache, rate limits, gate, response cache and key check,
now and at the commit issue 15 was filed against (lines, and lines holding code: no blank lines,
comments or docstrings).

    .venv/bin/python -m scripts.hot_path_lines      # part of `make benchmark-api`
"""

from __future__ import annotations

import ast
import io
import subprocess
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BEFORE = "6704809"  # the "today"
FILES = [
    "src/adapters/cache/flask_cache.py", "src/adapters/cache/near_cache.py", "src/adapters/cache/outage.py",
    "src/adapters/web/limits.py", "src/adapters/web/gate.py", "src/adapters/web/response_cache.py",
    "src/adapters/web/auth.py",
]  # fmt: skip
SKIPPED = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER}


def code_lines(text: str) -> int:
    docstrings: set[int] = set()
    for node in ast.walk(ast.parse(text)):
        body = getattr(node, "body", None)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef) and body:
            first = body[0]
            value = first.value if isinstance(first, ast.Expr) else None
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                docstrings.update(range(first.lineno, (first.end_lineno or first.lineno) + 1))
    lines: set[int] = set()
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type not in SKIPPED:
            lines.update(range(token.start[0], token.end[0] + 1))
    return len(lines - docstrings)


def sources(commit: str | None) -> list[str]:
    texts = []
    for name in FILES:
        if commit is None:
            path = ROOT / name
            texts += [path.read_text()] if path.exists() else []
            continue
        shown = subprocess.run(["git", "show", f"{commit}:{name}"], cwd=ROOT, capture_output=True, text=True)
        texts += [shown.stdout] if shown.returncode == 0 else []
    return texts


def main() -> None:
    now = sources(None)
    before = sources(BEFORE)
    lines, code = sum(t.count("\n") for t in now), sum(map(code_lines, now))
    print(f"hot path now: {lines} lines, {code} lines of code")
    if before:  # a shallow clone has no history to compare with
        was_lines, was_code = sum(t.count("\n") for t in before), sum(map(code_lines, before))
        print(f"at {BEFORE}:  {was_lines} lines, {was_code} lines of code;"
              f" now {lines / was_lines:.0%} and {code / was_code:.0%} of them (target: at most 33%)")  # fmt: skip


if __name__ == "__main__":
    main()
