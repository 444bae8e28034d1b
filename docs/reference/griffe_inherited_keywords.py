"""Griffe extension of the API reference (``mkdocs.yml``: mkdocstrings ``extensions``).

**Keywords a class passes on through ``**kwargs`` are shown with their defaults.** The records
operators take ``source_path``, ``sql``, ``max_failure_ratio``, ... from ``ActiveCampaignRecordsOperator``
through ``**kwargs``; their docstrings document them, but the signature griffe reads has no such
parameter, so the reference showed them as *required*. This extension copies every keyword
parameter of a base class's ``__init__`` (of this project: Airflow's own classes are not loaded)
into the subclass's ``__init__``, just before its ``**kwargs``, unless the subclass already has it:
the signature then shows what the class really accepts, and each documented parameter its default.
A documented keyword that comes from a class griffe does not load (``outlets`` of Airflow's
``BaseOperator``) is looked up on the imported class, and added with its default the same way.
"""

from __future__ import annotations

import importlib
import inspect
import re
from typing import Any

import griffe

_DOCUMENTED = re.compile(r"^\s*:param\s+(?:[^:]*\s)?(\w+):", re.MULTILINE)

_PASSED_ON = (
    griffe.ParameterKind.positional_or_keyword,
    griffe.ParameterKind.keyword_only,
)


class InheritedKeywords(griffe.Extension):
    """Expands ``**kwargs`` of ``__init__`` with the base classes' keyword parameters."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        done: set[str] = set()
        for cls in _classes(pkg):
            _expand(cls, done)


def _classes(module: griffe.Module | griffe.Class) -> list[griffe.Class]:
    found = []
    for member in module.members.values():
        if member.is_alias:
            continue  # a re-export: expanded where it is defined
        if isinstance(member, griffe.Class):
            found.append(member)
            found.extend(_classes(member))
        elif isinstance(member, griffe.Module):
            found.extend(_classes(member))
    return found


def _init(cls: griffe.Class) -> griffe.Function | None:
    init = cls.members.get("__init__")
    return init if isinstance(init, griffe.Function) else None


def _expand(cls: griffe.Class, done: set[str]) -> None:
    """Expand the bases first (their ``**kwargs`` may hide further keywords), then ``cls``."""
    if cls.path in done:
        return
    done.add(cls.path)
    try:
        bases = cls.resolved_bases
    except Exception:  # a base griffe did not load (Airflow's): nothing to copy from it
        bases = []
    for base in bases:
        _expand(base, done)
    init = _init(cls)
    if init is None:
        return
    params = list(init.parameters)
    var_keyword = next((i for i, p in enumerate(params) if p.kind is griffe.ParameterKind.var_keyword), None)
    if var_keyword is None:
        return
    known = {p.name for p in params}
    inherited: list[griffe.Parameter] = []
    for base in bases:
        base_init = _init(base)
        if base_init is None:
            continue
        for param in base_init.parameters:
            if param.kind in _PASSED_ON and param.name not in known and param.name != "self":
                known.add(param.name)
                inherited.append(
                    griffe.Parameter(
                        param.name,
                        annotation=param.annotation,
                        kind=griffe.ParameterKind.keyword_only,
                        default=param.default,
                        docstring=param.docstring,
                    )
                )
    documented = _DOCUMENTED.findall(cls.docstring.value) if cls.docstring else []
    for name in documented:
        if name not in known and (default := _runtime_default(cls.path, name)) is not None:
            known.add(name)
            inherited.append(griffe.Parameter(name, kind=griffe.ParameterKind.keyword_only, default=default))
    if inherited:
        init.parameters = griffe.Parameters(*params[:var_keyword], *inherited, *params[var_keyword:])


def _runtime_default(path: str, name: str) -> str | None:
    """The default of keyword ``name`` in the nearest ``__init__`` of the imported class's MRO."""
    module_name, _, class_name = path.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError):
        return None
    for klass in getattr(cls, "__mro__", ()):
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        param = inspect.signature(init).parameters.get(name)
        if param is not None and param.kind in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY):
            return None if param.default is param.empty else repr(param.default)
    return None
