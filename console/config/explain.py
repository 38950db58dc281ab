"""Turning a pydantic error into one sentence an operator can act on: where (section, key, item, line) and why."""
from __future__ import annotations

import difflib
import re
import typing
from datetime import date, datetime

from pydantic import BaseModel

from .models import Config
from .toml_lines import line_for
from .values import KeyProblem

# --- turning a pydantic error into words --------------------------------------------


def explain_error(err: dict, raw: dict) -> tuple[tuple, str]:
    loc = tuple(p for p in err["loc"] if not _is_tag(p))
    kind = err["type"]
    ctx = err.get("ctx") or {}
    given = err.get("input")
    ctx_err = ctx.get("error")
    if isinstance(ctx_err, KeyProblem):
        return loc + ctx_err.loc, ctx_err.msg
    if ctx_err is not None:
        return loc, str(ctx_err)
    if kind == "extra_forbidden":
        return loc, _unknown_key(loc, given)
    if kind == "missing":
        return loc, f"this key is required but missing{_missing_hint(loc)}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return loc, f"expected a whole number, got {_describe(given)}"
    if kind in ("float_type", "float_parsing", "finite_number"):
        return loc, f"expected a number, got {_describe(given)}"
    if kind in ("bool_type", "bool_parsing"):
        return loc, f"expected true or false, got {_describe(given)}"
    if kind == "string_type":
        hint = ""
        if loc and loc[-1] in ("green", "red") and isinstance(given, (int, float)):
            hint = f' (a band is an operator and a number in quotes, like "< {given}")'
        return loc, f"expected a string in quotes, got {_describe(given)}{hint}"
    if kind == "list_type":
        if len(loc) == 1 and loc[0] in _LIST_SECTIONS and isinstance(given, dict):
            return loc, f"write [[{loc[0]}]] (two brackets) for each entry, not [{loc[0]}]"
        return loc, f"expected a list [...], got {_describe(given)}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return loc, f"expected a table, got {_describe(given)}"
    if kind == "literal_error":
        return loc, f"{given!r} is not one of {ctx.get('expected', '')}"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        words = {"greater_than": "more than", "greater_than_equal": "at least",
                 "less_than": "less than", "less_than_equal": "at most"}[kind]
        bound = next(iter(ctx.values()), "")
        return loc, f"must be {words} {bound}, got {_describe(given)}"
    return loc, re.sub(r"^(Value error|Assertion failed), ", "", err["msg"])


def _is_tag(p: object) -> bool:
    """pydantic's own path elements (union members, validator wrappers), not keys."""
    return isinstance(p, str) and ("[" in p or "(" in p or p.startswith("function-"))


def _describe(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return f"the string {v!r}" + (" (drop the quotes)" if re.fullmatch(r"-?\d+(\.\d+)?|true|false", v) else "")
    if isinstance(v, (int, float)):
        return f"the number {v!r}"
    if isinstance(v, list):
        return "a list"
    if isinstance(v, dict):
        return "a table"
    if isinstance(v, (datetime, date)):
        return f"the date {v.isoformat()}"
    return repr(v)


def _model_at(loc: tuple) -> type[BaseModel] | None:
    """The model whose keys live at `loc` (a path of keys and list indexes)."""
    model: type[BaseModel] = Config
    for p in loc:
        if isinstance(p, int):
            continue
        field = model.model_fields.get(p)
        sub = _model_in(field.annotation) if field else None
        if sub is None:
            return None
        model = sub
    return model


def _model_in(annotation: object) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _unknown_key(loc: tuple, given: object) -> str:
    key = str(loc[-1]) if loc else ""
    model = _model_at(loc[:-1])
    known = list(model.model_fields) if model else []
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    section = len(loc) == 1 and isinstance(given, dict)
    msg = "unknown section" if section else "unknown key"
    if close:
        return f"{msg}; did you mean {f'[{close[0]}]' if section else repr(close[0])}?"
    if len(loc) == 1:
        homes = [s for s, f in Config.model_fields.items() if key in (_model_in(f.annotation) or BaseModel).model_fields]
        if homes:
            where = " or ".join(f"[[{h}]]" if h in _LIST_SECTIONS else f"[{h}]" for h in homes)
            return f"{msg} at the top level; a key of that name belongs in {where}"
        if section:
            return f"{msg}; the sections are {', '.join(Config.model_fields)}"
    return f"{msg} (a typo?); the keys here are {', '.join(known)}" if known else f"{msg} (a typo?)"


def _missing_hint(loc: tuple) -> str:
    if loc[-1:] == ("name",):
        return "; every entry needs a unique name"
    if loc[-1:] == ("url",):
        return '; write it like url = "http://127.0.0.1:8080/health"'
    if loc[-1:] == ("source",):
        return ': source = "probe", "promql" or "sql"'
    return ""


# --- where in the file --------------------------------------------------------------

_LIST_SECTIONS = ("targets", "gates", "notify")


def describe_loc(loc: tuple, raw: dict, text: str) -> str:
    """("targets", 1, "interval") → `[[targets]] #2 ('auth'), key 'interval' (line 31)`."""
    loc = tuple(p for p in loc if not _is_tag(p))
    if not loc:
        return "top level"
    section, rest = str(loc[0]), loc[1:]
    parts: list[str] = []
    value = raw.get(section) if isinstance(raw, dict) else None
    if section in _LIST_SECTIONS and rest and isinstance(rest[0], int):
        i, rest = rest[0], rest[1:]
        item = value[i] if isinstance(value, list) and i < len(value) else None
        name = item.get("name") if isinstance(item, dict) else None
        parts.append(f"[[{section}]] #{i + 1}" + (f" ({name!r})" if isinstance(name, str) and name else ""))
    elif section in _LIST_SECTIONS:
        parts.append(f"'{section}'" if not rest else f"[[{section}]]")
    elif section in Config.model_fields or isinstance(value, dict):
        parts.append(f"[{section}]")
    else:
        parts.append(f"top-level key {section!r}")
    keys = [p for p in rest if isinstance(p, str)]
    if keys:
        parts.append("key " + repr(".".join(keys)))
    items = [p for p in rest if isinstance(p, int)]
    if items:
        parts.append(f"item {items[-1] + 1}")
    where = ", ".join(parts)
    line = line_for(loc, text)
    return f"{where} (line {line})" if line else where
