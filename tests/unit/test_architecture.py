"""The core stays framework-free: its imports are checked, not trusted."""

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "src" / "application"
FORBIDDEN = {
    *("flask", "flask_injector", "flask_sqlalchemy", "flask_migrate", "flask_caching", "werkzeug"),
    *("sqlalchemy", "psycopg2", "celery", "kombu", "redis", "plotly", "gunicorn"),
}


def imported_top_level_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_the_application_core_imports_no_framework():
    offenders = {
        str(path.relative_to(CORE)): sorted(imported_top_level_modules(path) & FORBIDDEN) for path in CORE.rglob("*.py")
    }
    offenders = {path: modules for path, modules in offenders.items() if modules}
    assert offenders == {}


def test_the_core_only_depends_on_itself_among_project_packages():
    for path in CORE.rglob("*.py"):
        for module in imported_top_level_modules(path):
            if module == "src":
                source = path.read_text()
                assert "src.adapters" not in source and "src.infrastructure" not in source, path


def test_the_import_check_sees_a_framework_import(tmp_path):
    leaky = tmp_path / "leaky.py"
    leaky.write_text("from sqlalchemy.orm import Session\nimport flask\n")
    assert imported_top_level_modules(leaky) & FORBIDDEN == {"sqlalchemy", "flask"}
