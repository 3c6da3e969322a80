"""The core stays framework-free: its imports are checked, not trusted."""

import abc
import ast
import inspect
import pkgutil
import textwrap
from pathlib import Path

from src.application.ports import cache, clock, llm_client, repositories, task_queue, telemetry, unit_of_work

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


def declared_only(function) -> bool:
    """A method whose body is nothing but a docstring, `...` or `pass`: a port's declaration."""
    (definition,) = ast.parse(textwrap.dedent(inspect.getsource(function))).body
    return all(
        isinstance(statement, ast.Pass)
        or (isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant))
        for statement in definition.body
    )


def test_an_adapter_that_leaves_out_a_method_of_its_port_cannot_be_made():
    """Every method a port only declares is abstract, so an incomplete adapter fails when it is
    wired, not when a request first calls the missing method."""
    modules = (cache, clock, llm_client, repositories, task_queue, telemetry, unit_of_work)
    every_module = {found.name for found in pkgutil.iter_modules([str(CORE / "ports")])}
    assert {module.__name__.rsplit(".", 1)[1] for module in modules} == every_module
    # Ports, not the null objects beside them (NoTelemetry).
    ports = {port for module in modules for port in vars(module).values()
             if inspect.isclass(port) and abc.ABC in port.__bases__}  # fmt: skip
    for port in ports:
        declared = {name for name, member in vars(port).items() if inspect.isfunction(member) and declared_only(member)}
        assert declared <= port.__abstractmethods__, (port.__name__, declared - port.__abstractmethods__)
    assert len(ports) >= 20
