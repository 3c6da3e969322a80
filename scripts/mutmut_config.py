"""mutmut's hook (copied beside the tree it mutates): mutants of a variable's annotation
(`until: float = 0.0` made `until: float / None = 0.0`) are skipped. Every module of the core
but errors.py (which has no annotated variable) starts with `from __future__ import annotations`,
so no annotation is ever evaluated and such a mutant cannot change behaviour; mutmut already
leaves parameter and return annotations alone."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import mutmut

ANNOTATIONS: dict[str, set[Any]] = {}  # by file: the ids of mutants inside an annotation


def pre_mutation_ast(context: Any) -> None:
    nodes = context.stack
    if any(parent.type == "annassign" and child is parent.children[1] for parent, child in pairwise(nodes)):
        ANNOTATIONS.setdefault(context.filename, set()).add(context.mutation_id_of_current_index)


def pre_mutation(context: Any) -> None:
    # Mutants run in another process than the one that listed them: list the file again here.
    if context.filename not in ANNOTATIONS:
        ANNOTATIONS[context.filename] = set()
        mutmut.list_mutations(mutmut.Context(filename=context.filename, config=None, dict_synonyms=[]))
    context.skip = context.mutation_id in ANNOTATIONS[context.filename]
