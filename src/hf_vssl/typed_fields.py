"""Typed config fields: every value is brought to its field's annotation at construction, or refused.

huggingface_hub's `@strict` checks types only for annotations it can evaluate (not the string
annotations of modules with `from __future__ import annotations`) and refuses harmless values such as
`learning_rate=1` or `paces=[1, 2]`. Here an int is a valid float, a tuple a valid list, an integral
float a valid int, and with `from_text=True` (command line `--set`, YAML files, where YAML 1.1 reads
`1e-3` as a string) a numeric string a valid number. Anything else fails with the field's name, the
value and the expected type.

A choice list is a `Literal` type; a bound lives in the field's metadata (`bounds(ge=1)`, `bounds(gt=0)`,
`bounds(ge=0, le=1)`, with an optional `why`). `check_bounds` (the configs' check), the CLI (argparse
choices and help) and the docs all read them there, so each rule is declared once.
"""

from __future__ import annotations

import dataclasses
import inspect
import sys
import types
import typing
from functools import cache
from pathlib import PurePath
from typing import Any, Literal, Union


class FieldTypeError(TypeError, ValueError):
    """A value that is not of its field's type, or not among its `Literal` choices (the message names both)."""


@cache
def field_types(cls: type) -> dict[str, Any]:
    """The annotation of every dataclass field of `cls` that can be evaluated (string annotations
    resolved in their class's module). transformers' own config fields that name modules it imports
    lazily (`torch.dtype`) are left out: they are not ours to coerce."""
    names = {f.name for f in dataclasses.fields(cls)}
    hints: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):  # a subclass's redeclaration wins
        namespace = vars(sys.modules[klass.__module__]) if klass.__module__ in sys.modules else {}
        for name, annotation in inspect.get_annotations(klass).items():
            if name not in names:
                continue
            if isinstance(annotation, str):
                try:
                    annotation = eval(annotation, namespace)
                except NameError:
                    if klass.__module__.startswith("hf_vssl"):
                        raise
                    continue
            hints[name] = annotation
    return hints


def coerce_fields(config: Any, names: typing.Iterable[str] | None = None) -> None:
    """Coerce the fields `names` (default: all) of the dataclass instance `config` in place."""
    hints = field_types(type(config))
    for name in hints if names is None else names:
        value = getattr(config, name)
        coerced = coerce_value(f"{type(config).__name__}.{name}", value, hints[name])
        if coerced is not value:
            object.__setattr__(config, name, coerced)


def coerce_value(name: str, value: Any, hint: Any, *, from_text: bool = False) -> Any:
    """`value` as the annotation `hint` describes it; FieldTypeError naming `name` otherwise."""
    try:
        return _coerce(value, hint, from_text)
    except (TypeError, ValueError):
        raise FieldTypeError(
            f"{name} must be {describe_type(hint)}, got {value!r} ({type(value).__name__})"
        ) from None


def check_field(name: str, value: Any, ok: bool, allowed: str) -> None:
    """Raise ValueError("<name> must be <allowed>, got <value>") unless `ok`."""
    if not ok:
        raise ValueError(f"{name} must be {allowed}, got {value!r}")


def bounds(*, ge: float | None = None, gt: float | None = None, le: float | None = None,
           lt: float | None = None, why: str = "") -> dict[str, Any]:  # fmt: skip
    """Field metadata bounding a number (or each number of a list): `field(default=3, metadata=bounds(ge=1))`."""
    rules = {"ge": ge, "gt": gt, "le": le, "lt": lt}
    return {"bounds": {k: v for k, v in rules.items() if v is not None}, "why": why}


def describe_bounds(metadata: typing.Mapping[str, Any]) -> str | None:
    """ ">= 1", "> 0", "in [0, 1)"... of a field's `bounds` metadata (with its `why`); None without bounds."""
    rules = metadata.get("bounds")
    if not rules:
        return None
    low = next(((k, rules[k]) for k in ("ge", "gt") if k in rules), None)
    high = next(((k, rules[k]) for k in ("le", "lt") if k in rules), None)
    if low and high:
        text = f"in {'[' if low[0] == 'ge' else '('}{low[1]}, {high[1]}{']' if high[0] == 'le' else ')'}"
    else:
        kind, limit = low or high
        text = f"{_BOUND_SIGNS[kind]} {limit}"
    return f"{text} ({metadata['why']})" if metadata.get("why") else text


def check_bounds(config: Any) -> None:
    """ValueError("<field> must be >= 1, got 0") for the first field of the dataclass instance `config`
    (each item of a list field) outside its metadata's `bounds`; None values are not checked."""
    for f in dataclasses.fields(config):
        allowed = describe_bounds(f.metadata)
        if allowed is None:
            continue
        value = getattr(config, f.name)
        items = [] if value is None else value if isinstance(value, (list, tuple)) else [value]
        rules = f.metadata["bounds"]
        ok = all(_BOUND_TESTS[kind](item, limit) for item in items for kind, limit in rules.items())
        check_field(f.name, value, ok, allowed)


_BOUND_SIGNS = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}
_BOUND_TESTS = {
    "ge": lambda x, y: x >= y,
    "gt": lambda x, y: x > y,
    "le": lambda x, y: x <= y,
    "lt": lambda x, y: x < y,
}


def literal_choices(hint: Any) -> tuple[Any, ...] | None:
    """The values a `Literal` annotation (or an optional one) allows; None for other annotations."""
    if typing.get_origin(hint) is Literal:
        return typing.get_args(hint)
    if typing.get_origin(hint) in (Union, types.UnionType):
        members = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(members) == 1:
            return literal_choices(members[0])
    return None


def describe_type(hint: Any) -> str:
    """'a float', 'a list of int', 'one of rgb, flow', ... for error messages."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        return " or ".join(describe_type(a) if a is not type(None) else "None" for a in args)
    if origin is Literal:
        return "one of " + ", ".join(map(str, args))
    if origin in (list, tuple):
        return (
            f"a list of {describe_type(args[0]).removeprefix('a ').removeprefix('an ')}" if args else "a list"
        )
    if origin is dict or hint is dict:
        return "a mapping"
    hint_name = getattr(hint, "__name__", str(hint))
    return f"an {hint_name}" if hint_name[0] in "aeiou" else f"a {hint_name}"


def _coerce(value: Any, hint: Any, from_text: bool) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any or isinstance(hint, typing.TypeVar):
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in args:  # the first member that takes the value, exact types first
            if arg is not type(None) and _is_instance(value, arg):
                return _coerce(value, arg, from_text)
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, from_text)
            except (TypeError, ValueError):
                continue
        raise TypeError
    if origin is Literal:
        if value in args:
            return value
        raise ValueError
    if origin in (list, tuple) or hint in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise TypeError
        item = args[0] if args else Any
        return [_coerce(v, item, from_text) for v in value]
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            raise TypeError
        return value
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise TypeError
    if hint is float:
        if isinstance(value, bool):
            raise TypeError
        if isinstance(value, (int, float)):
            return float(value)
        if from_text and isinstance(value, str):
            return float(value)
        raise TypeError
    if hint is int:
        if isinstance(value, bool):
            raise TypeError
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if from_text and isinstance(value, str):
            number = float(value)
            if number.is_integer():
                return int(number)
        raise TypeError
    if hint is str:
        if isinstance(value, str):
            return value
        raise TypeError
    if isinstance(hint, type):
        if isinstance(value, hint):
            return value
        if issubclass(hint, PurePath) and isinstance(value, (str, PurePath)):  # a path option's text
            return hint(value)
        raise TypeError
    return value


def _is_instance(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint) or hint
    if origin is Literal:
        return value in typing.get_args(hint)
    if not isinstance(origin, type):
        return False
    if origin in (int, float) and isinstance(value, bool):
        return False
    return isinstance(value, origin)


__all__ = [
    "FieldTypeError",
    "bounds",
    "check_bounds",
    "check_field",
    "coerce_fields",
    "coerce_value",
    "describe_bounds",
    "describe_type",
    "field_types",
    "literal_choices",
]
