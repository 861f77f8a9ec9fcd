"""One schema for the options of a backend URL (``redis://h?ttl=12h&cluster=true``) and of the
server's environment (``CHECKPOINT_KV_SETUP=0``).

Each backend declares its options once, as a :class:`Schema` of :class:`Option` (name, kind,
default, doc), and reads them with :meth:`Schema.parse`, which returns typed values. So every
backend accepts the same spellings (``true/false``, ``1/0``, ``yes/no``, ``on/off``; ``30d``,
``12h``, ``15m``, ``90s`` or plain seconds) and refuses bad input with one message style, a
:class:`~checkpoint_kv.errors.ConfigError` that names the option, the value and what is expected;
an unknown option lists the known ones, with a "did you mean" when one is close.

An empty value (``?ttl=``) means "not given", i.e. the default, except for text options, where
``""`` is a value (``prefix=``); an option may say otherwise (``empty=``).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from checkpoint_kv.errors import ConfigError
from checkpoint_kv.registry import split_options

__all__ = ["Option", "Schema", "parse_bool", "parse_duration", "url_query"]

Kind = Literal["bool", "duration", "int", "float", "enum", "str"]

TRUE = frozenset({"1", "true", "yes", "on"})
FALSE = frozenset({"0", "false", "no", "off"})
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_UNSET: Any = object()


def parse_bool(text: str) -> bool:
    """``1/true/yes/on`` or ``0/false/no/off``, any case; ValueError otherwise."""
    t = text.strip().lower()
    if t in TRUE:
        return True
    if t in FALSE:
        return False
    raise ValueError(text)


def parse_duration(text: str) -> int:
    """``3600``, ``90s``, ``15m``, ``12h``, ``30d``, ``1w`` -> whole seconds; ValueError
    otherwise."""
    t = text.strip().lower()
    number, unit = (t[:-1], _UNITS[t[-1]]) if t and t[-1] in _UNITS else (t, 1)
    seconds = float(number) * unit
    if not math.isfinite(seconds) or 0 < abs(seconds) < 1:  # 0.5 would be 0: no TTL at all
        raise ValueError(text)
    return int(seconds)


@dataclass(frozen=True)
class Option:
    """One option: its name, kind, default (returned when it is not given) and what it does.

    ``min``/``max`` bound a number inclusively, ``above`` exclusively (``above=0``: positive);
    ``choices`` are an enum's values (matched in any case, returned as written here); ``empty``
    is what an empty value means, when not the default."""

    name: str
    kind: Kind
    default: Any = None
    doc: str = ""
    min: float | None = None
    max: float | None = None
    above: float | None = None
    choices: tuple[str, ...] = ()
    empty: Any = _UNSET

    def expected(self) -> str:
        """What a valid value looks like, for error messages and help."""
        if self.kind == "bool":
            return "true or false (or 1/0, yes/no, on/off)"
        if self.kind == "enum":
            return "one of " + ", ".join(self.choices)
        if self.kind == "str":
            return "text"
        what = {
            "duration": "seconds, or a duration such as 90s, 15m, 12h, 30d",
            "int": "an integer",
            "float": "a number",
        }[self.kind]
        bounds = [f"> {_num(self.above)}"] if self.above is not None else []
        bounds += [f">= {_num(self.min)}"] if self.min is not None else []
        bounds += [f"<= {_num(self.max)}"] if self.max is not None else []
        return what + (f" ({', '.join(bounds)})" if bounds else "")

    def convert(self, text: str) -> Any:
        """The typed value of ``text``; ValueError when it is not one."""
        if not text.strip() and self.kind != "str":
            return self.default if self.empty is _UNSET else self.empty
        if self.kind == "str":
            return text
        if self.kind == "bool":
            return parse_bool(text)
        if self.kind == "enum":
            for choice in self.choices:
                if choice.lower() == text.strip().lower():
                    return choice
            raise ValueError(text)
        value: float
        if self.kind == "duration":
            value = parse_duration(text)
        elif self.kind == "int":
            value = int(text)
        else:
            value = float(text)
        if (
            (self.above is not None and not value > self.above)
            or (self.min is not None and not value >= self.min)
            or (self.max is not None and not value <= self.max)
        ):
            raise ValueError(text)
        return value


def _num(x: float) -> str:
    return str(int(x)) if math.isfinite(x) and x == int(x) else str(x)


class Schema:
    """The options of one backend (``label`` names it in messages: ``redis ttl='x': ...``)."""

    def __init__(self, label: str, options: Iterable[Option]) -> None:
        self.label = label
        self.options = {o.name: o for o in options}

    @property
    def names(self) -> list[str]:
        return sorted(self.options)

    def parse(self, given: Mapping[str, str]) -> dict[str, Any]:
        """Every declared option's typed value (its default when not given). ConfigError for
        an unknown option or a value of the wrong kind."""
        self.check_known(given)
        out: dict[str, Any] = {}
        for name, opt in self.options.items():
            if name not in given:
                out[name] = opt.default
                continue
            try:
                out[name] = opt.convert(given[name])
            except ValueError:
                raise self.error(name, given[name]) from None
        return out

    def check_known(self, names: Iterable[str]) -> None:
        """ConfigError naming the options that are not declared, with the known ones."""
        unknown = sorted(set(names) - set(self.options))
        if not unknown:
            return
        hints = []
        for name in unknown:
            close = difflib.get_close_matches(name, self.names, n=1)
            if close:
                hints.append(f"{close[0]!r}" if len(unknown) == 1 else f"{close[0]!r} for {name!r}")
        raise ConfigError(
            f"unknown {self.label} option{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(repr(n) for n in unknown)}"
            + (f" (did you mean {', '.join(hints)}?)" if hints else "")
            + f"; known: {', '.join(self.names)}"
        )

    def error(self, name: str, value: str, expected: str | None = None) -> ConfigError:
        """The one message style: ``<label> <name>=<value>: expected <what>``."""
        what = expected or self.options[name].expected()
        where = f"{self.label} " if self.label else ""
        return ConfigError(f"{where}{name}={value!r}: expected {what}")

    def describe(self) -> list[str]:
        """One line per option (name, what it takes, default, doc): for help texts."""
        return [
            f"{o.name}: {o.expected()}"
            + (f", default {o.default!r}" if o.default is not None else "")
            + (f". {o.doc}" if o.doc else "")
            for o in self.options.values()
        ]


def url_query(url: str, options: Mapping[str, Any]) -> tuple[str, dict[str, str]]:
    """``url`` without its query string, and the query merged with keyword ``options`` (which
    win), every value as text (``True`` -> ``"true"``), ready for :meth:`Schema.parse`."""
    base, query = split_options(url)
    query.update({k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in options.items()})
    return base, query
