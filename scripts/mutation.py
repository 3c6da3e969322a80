"""Mutation testing of the core: mutmut changes src/application one small edit at a time (a `<`
for a `<=`, a constant, a dropped call) and runs the unit tests against each mutant; the mutants
they do not notice survived. Prints the counts and the score, killed / (killed + survived).

    make mutation      # each file of the core with the unit tests that reach it, two at a time (--by-file)
    .venv/bin/python -m scripts.mutation --paths src/application/domain/bounds.py --tests reaching   # one file
    .venv/bin/python -m scripts.mutation --show 42   # the diff of one survivor (--work: of another copy)

mutmut 2 edits the files in place, so it works in a copy of the tree, never in this one.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COPIED = ("src", "tests", "pyproject.toml")
CORE = "src/application/"
MUTMUT = str(Path(sys.executable).with_name("mutmut"))


def prepare(work: Path) -> None:
    work.mkdir(parents=True, exist_ok=True)
    for name in COPIED:
        target = work / name
        if target.is_dir():
            shutil.rmtree(target)
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / name, target)
    shutil.copy2(ROOT / "scripts" / "mutmut_config.py", work / "mutmut_config.py")


def module_file(module: str) -> Path | None:
    base = ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_files(source: Path) -> set[Path]:
    """The files of `src` and `tests` that one file imports (`from a.b import c` may name a module c)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    found = (module_file(name) for name in names if name.split(".")[0] in ("src", "tests"))
    return {path for path in found if path is not None}


def reaching_tests(paths: str) -> str:
    """The unit test files whose imports reach the mutated part, directly or through other modules:
    the nearest first, as they are likeliest to kill a mutant (pytest -x then stops early)."""
    part = ROOT / paths
    targets = {path.resolve() for path in part.rglob("*.py")} if part.is_dir() else {part.resolve()}
    reach: dict[str, int] = {}
    for test_file in sorted((ROOT / "tests" / "unit").glob("test_*.py")):
        seen: set[Path] = set()
        layer, depth = {test_file}, 0
        while layer and not targets & {path.resolve() for path in layer}:
            layer = set().union(*map(imported_files, layer)) - seen
            seen |= layer
            depth += 1
        if layer:
            reach[str(test_file.relative_to(ROOT))] = depth
    return " ".join(sorted(reach, key=lambda name: (reach[name], name)))


def run(work: Path, paths: str, tests_to_run: str, log: Path | None = None) -> None:
    # mutmut 2 takes any exit code but 1 for passing tests: a mutant that breaks an import (pytest
    # exits 4) would count as survived. Any failure is made a 1. The unit tests need no pytest
    # plugin, and loading the installed ones (schemathesis, hypothesis) takes a third of each run.
    # But pytest-timeout: mutmut's own timeout kills the shell, not pytest, and waits on a mutant
    # that sleeps for ever (a shard told to start in 50 years); a unit test takes a second or two.
    # Its thread method ends the process: a signal cannot stop a run waiting on its own thread.
    tests = (f"sh -c 'PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 {sys.executable} -m pytest -x -q -p no:cacheprovider"
             f" -p pytest_timeout --timeout 60 --timeout-method thread {tests_to_run} || exit 1'")  # fmt: skip
    with log.open("w") if log else contextlib.nullcontext() as output:
        subprocess.run(
            [MUTMUT, "run", "--paths-to-mutate", paths, "--tests-dir", "tests/unit/", "--runner", tests,
             "--no-progress"],
            cwd=work, check=False, stdout=output, stderr=output,
        )  # fmt: skip


@dataclass
class Counts:
    killed: int = 0
    survived: int = 0
    skipped: int = 0
    untested: int = 0
    survivors: list[int] = field(default_factory=list)

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.killed + other.killed, self.survived + other.survived, self.skipped + other.skipped,
                      self.untested + other.untested)  # fmt: skip

    @property
    def score(self) -> str:
        tested = self.killed + self.survived
        return f"{self.killed} of {tested} ({self.killed / max(1, tested):.1%})"


def counts_of(work: Path) -> Counts:
    with sqlite3.connect(work / ".mutmut-cache") as cache:
        counts = dict(cache.execute("SELECT status, count(*) FROM mutant GROUP BY status").fetchall())
        survivors = [row[0] for row in cache.execute("SELECT id FROM mutant WHERE status = 'bad_survived'")]
    return Counts(
        killed=counts.get("ok_killed", 0) + counts.get("bad_timeout", 0),  # a hang is noticed too
        survived=counts.get("bad_survived", 0) + counts.get("ok_suspicious", 0),
        skipped=counts.get("skipped", 0),
        untested=counts.get("untested", 0),
        survivors=survivors,
    )


def report(work: Path) -> None:
    counts = counts_of(work)
    if not counts.killed + counts.survived:
        sys.exit("no mutant was tested: do the unit tests pass without mutations?")
    print(f"mutants: killed {counts.killed}, survived {counts.survived}, skipped {counts.skipped} (annotations),"
          f" untested {counts.untested}")  # fmt: skip
    print(f"score {counts.score} (killed / (killed + survived))")
    print("survivors:", " ".join(map(str, counts.survivors)) or "none")


def by_file(folder: str, work: Path, lanes: int) -> None:
    """Each file of the folder (or the one file) with the unit test files that reach it, `lanes` at a time;
    prints each file's score as it comes and the total. Each file's copy is work/<its path>."""
    given = ROOT / folder
    files = sorted(str(path.relative_to(ROOT)) for path in (given.rglob("*.py") if given.is_dir() else [given])
                   if path.stat().st_size)  # fmt: skip

    def copy_of(path: str) -> Path:
        return work / path.replace("/", "_")

    def one(path: str) -> tuple[str, Counts | None]:
        tests, part = reaching_tests(path), copy_of(path)
        if not tests:
            return path, None
        prepare(part)
        (part / ".mutmut-cache").unlink(missing_ok=True)
        run(part, path, tests, log=part / "mutmut.log")
        return path, counts_of(part)

    total = Counts()
    with ThreadPoolExecutor(lanes) as pool:
        for path, counts in pool.map(one, files):
            if counts is None:
                print(f"{path}: no unit test reaches it", flush=True)
                continue
            total += counts
            print(f"{path}: {counts.score}; survivors (--work {copy_of(path)} --show ID):"
                  f" {' '.join(map(str, counts.survivors)) or 'none'}", flush=True)  # fmt: skip
    print(f"total: killed {total.score}, skipped {total.skipped} (annotations), untested {total.untested}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--show",
        type=int,
        help="print the diff of one mutant (never while a run goes on:"
        " mutmut then rereads its line cache from the mutated file and the run breaks)",
    )
    parser.add_argument("--report", action="store_true", help="print the last run's figures only")
    parser.add_argument("--paths", default=CORE, help="what to mutate: a file or folder of the core")
    parser.add_argument("--tests", default="tests/unit",
                        help="the unit tests to run against each mutant (all of them by default; a part is faster, "
                        "and kills no more); 'reaching': the unit test files whose imports reach --paths")  # fmt: skip
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "jounce-mutation",
                        help="the copy to mutate in (kept between runs: mutmut resumes its cache)")  # fmt: skip
    parser.add_argument("--by-file", action="store_true",
                        help="each file of --paths apart, with the unit tests reaching it")  # fmt: skip
    parser.add_argument("--lanes", type=int, default=2, help="files mutated side by side with --by-file")
    args = parser.parse_args()
    if args.by_file:
        by_file(args.paths, args.work, args.lanes)
        return
    if args.show is not None:
        subprocess.run([MUTMUT, "show", str(args.show)], cwd=args.work, check=False)
        return
    if not args.report:
        prepare(args.work)
        if args.paths != CORE:  # a part's score alone (a whole run keeps its cache, to resume)
            (args.work / ".mutmut-cache").unlink(missing_ok=True)
        tests = reaching_tests(args.paths) if args.tests == "reaching" else args.tests
        print("tests:", tests, flush=True)
        run(args.work, args.paths, tests)
    report(args.work)


if __name__ == "__main__":
    main()
