"""A JUEL (Java Unified Expression Language 2.2) evaluator for the expressions Camunda 7 runs in
tests/fakes/bpmn_runner.py: `${...}` composites, literals, identifiers, `execution.getVariable`,
`setVariable` and `removeVariable`, the instance's business key and id, String methods
(`hashCode` as Java computes it), the EL operators and the EL spec's coercion rules (null in
arithmetic is 0, null in a relational comparison is false, numbers compared as numbers, strings
coerced to numbers or booleans as section 1.18 says). An identifier that is no variable fails as
in Camunda ("Cannot resolve identifier"), so a condition that reads a missing variable without
execution.getVariable is caught by the tests, as it would stop a real instance.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass
from typing import Any


class ELError(Exception):
    """The expression cannot be evaluated: on the engine, an exception and an incident."""


Variables = MutableMapping[str, Any]
Node = Callable[[Variables], Any]

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<number>\d+\.\d*(?:[eE][+-]?\d+)?|\d+(?:[eE][+-]?\d+)?)
      | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
      | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<op>==|!=|<=|>=|&&|\|\||[<>!+\-*/%?:().,\[\]])
    )""",
    re.VERBOSE,
)
_KEYWORDS = {
    "and": "&&",
    "or": "||",
    "not": "!",
    "eq": "==",
    "ne": "!=",
    "lt": "<",
    "gt": ">",
    "le": "<=",
    "ge": ">=",
    "div": "/",
    "mod": "%",
}


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str


def _tokens(source: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos = 0
    while pos < len(source):
        if source[pos:].strip() == "":
            break
        match = _TOKEN.match(source, pos)
        if match is None:
            raise ELError(f"cannot parse expression at {source[pos:]!r}")
        kind = match.lastgroup or ""
        text = match.group(kind)
        if kind == "ident" and text in _KEYWORDS:
            kind, text = "op", _KEYWORDS[text]
        elif kind == "ident" and text in ("empty", "true", "false", "null", "instanceof"):
            kind = text
        tokens.append(_Tok(kind, text))
        pos = match.end()
    tokens.append(_Tok("end", ""))
    return tokens


# ----------------------------------------------------------------------------- coercion


def to_boolean(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.lower() == "true"
    raise ELError(f"cannot coerce {value!r} to Boolean")


def to_number(value: Any) -> int | float:
    if value is None:
        return 0
    if isinstance(value, bool):
        raise ELError(f"cannot coerce Boolean {value} to a number")
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        text = value.strip()
        if text == "":
            return 0
        try:
            return int(text) if re.fullmatch(r"[+-]?\d+", text) else float(text)
        except ValueError:
            raise ELError(f"cannot coerce '{value}' to a number") from None
    raise ELError(f"cannot coerce {type(value).__name__} to a number")


def _is_float(value: Any) -> bool:
    return isinstance(value, float) or (isinstance(value, str) and any(c in value for c in ".eE"))


def to_string(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _equals(a: Any, b: Any) -> bool:
    if a is b:
        return True
    if a is None or b is None:
        return False
    numbers = (int, float)
    if (isinstance(a, numbers) and not isinstance(a, bool)) or (
        isinstance(b, numbers) and not isinstance(b, bool)
    ):
        return bool(to_number(a) == to_number(b))
    if isinstance(a, bool) or isinstance(b, bool):
        return to_boolean(a) == to_boolean(b)
    if isinstance(a, str) or isinstance(b, str):
        return to_string(a) == to_string(b)
    return bool(a == b)


def _compare(op: str, a: Any, b: Any) -> bool:
    if a is None or b is None:
        return False
    if isinstance(a, str) and isinstance(b, str):
        left: Any = a
        right: Any = b
    else:
        left, right = to_number(a), to_number(b)
    return {
        "<": left < right,
        ">": left > right,
        "<=": left <= right,
        ">=": left >= right,
    }[op]


def _arith(op: str, a: Any, b: Any) -> int | float:
    if a is None and b is None:
        return 0
    if op == "/" or _is_float(a) or _is_float(b):
        x, y = float(to_number(a)), float(to_number(b))
    else:
        x, y = to_number(a), to_number(b)
    if op == "+":
        return x + y
    if op == "-":
        return x - y
    if op == "*":
        return x * y
    if op == "/":
        if y == 0:
            raise ELError("division by zero")
        return x / y
    if y == 0:
        raise ELError("division by zero")
    # Java's remainder takes the sign of the dividend (Python's % that of the divisor).
    if isinstance(x, float) or isinstance(y, float):
        return math.fmod(x, y)
    remainder = abs(x) % abs(y)
    return remainder if x >= 0 else -remainder


def java_hash_code(text: str) -> int:
    """java.lang.String.hashCode(): s[0]*31^(n-1) + ... over UTF-16 code units, as a 32-bit int."""
    units = text.encode("utf-16-be")
    h = 0
    for i in range(0, len(units), 2):
        h = (31 * h + int.from_bytes(units[i : i + 2], "big")) & 0xFFFFFFFF
    return h - (1 << 32) if h >= 1 << 31 else h


def _empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str | list | tuple | dict | set):
        return len(value) == 0
    return False


# ----------------------------------------------------------------------------- objects


@dataclass(frozen=True)
class InstanceInfo:
    """What the engine knows of the instance beyond its variables."""

    process_instance_id: str | None = None
    business_key: str | None = None


class Execution:
    """The `execution` object expressions see: variables of the running instance."""

    def __init__(self, variables: Variables, instance: InstanceInfo | None = None) -> None:
        self._variables = variables
        self._instance = instance or InstanceInfo()

    def getProcessInstanceId(self) -> str | None:
        return self._instance.process_instance_id

    def getProcessBusinessKey(self) -> str | None:
        return self._instance.business_key

    def getVariable(self, name: str) -> Any:
        return self._variables.get(name)

    def setVariable(self, name: str, value: Any) -> None:
        self._variables[name] = value

    def removeVariable(self, name: str) -> None:
        self._variables.pop(name, None)

    def hasVariable(self, name: str) -> bool:
        return name in self._variables


_EXECUTION_METHODS = (
    "getVariable",
    "setVariable",
    "removeVariable",
    "hasVariable",
    "getProcessInstanceId",
    "getProcessBusinessKey",
)


def _call(target: Any, name: str, args: list[Any]) -> Any:
    if isinstance(target, Execution) and name in _EXECUTION_METHODS:
        return getattr(target, name)(*args)
    if target is None:
        raise ELError(f"cannot call {name}() on null")
    if name == "toString" and not args:
        return to_string(target)
    if isinstance(target, str):
        if name == "matches" and len(args) == 1:
            return re.fullmatch(to_string(args[0]), target) is not None
        if name == "length" and not args:
            return len(target)
        if name == "trim" and not args:
            return target.strip()
        if name == "equals" and len(args) == 1:
            return isinstance(args[0], str) and target == args[0]
        if name == "isEmpty" and not args:
            return target == ""
        if name == "hashCode" and not args:
            return java_hash_code(target)
    raise ELError(f"Method not found: {type(target).__name__}.{name}({len(args)} arguments)")


# ----------------------------------------------------------------------------- parser


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = _tokens(source)
        self.pos = 0

    def peek(self) -> _Tok:
        return self.tokens[self.pos]

    def take(self, text: str | None = None) -> _Tok:
        tok = self.tokens[self.pos]
        if text is not None and tok.text != text:
            raise ELError(f"expected {text!r} in {self.source!r}, found {tok.text!r}")
        self.pos += 1
        return tok

    def at(self, *texts: str) -> bool:
        tok = self.peek()
        return tok.kind == "op" and tok.text in texts

    def parse(self) -> Node:
        node = self.ternary()
        if self.peek().kind != "end":
            raise ELError(f"unexpected {self.peek().text!r} in {self.source!r}")
        return node

    def ternary(self) -> Node:
        cond = self.binary(0)
        if self.at("?"):
            self.take("?")
            yes = self.ternary()
            self.take(":")
            no = self.ternary()
            return lambda v: yes(v) if to_boolean(cond(v)) else no(v)
        return cond

    _LEVELS: tuple[tuple[str, ...], ...] = (
        ("||",),
        ("&&",),
        ("==", "!="),
        ("<", ">", "<=", ">="),
        ("+", "-"),
        ("*", "/", "%"),
    )

    def binary(self, level: int) -> Node:
        if level == len(self._LEVELS):
            return self.unary()
        node = self.binary(level + 1)
        while self.at(*self._LEVELS[level]):
            op = self.take().text
            right = self.binary(level + 1)
            node = self._combine(op, node, right)
        return node

    @staticmethod
    def _combine(op: str, left: Node, right: Node) -> Node:
        if op == "||":
            return lambda v: to_boolean(left(v)) or to_boolean(right(v))
        if op == "&&":
            return lambda v: to_boolean(left(v)) and to_boolean(right(v))
        if op == "==":
            return lambda v: _equals(left(v), right(v))
        if op == "!=":
            return lambda v: not _equals(left(v), right(v))
        if op in ("<", ">", "<=", ">="):
            return lambda v: _compare(op, left(v), right(v))
        return lambda v: _arith(op, left(v), right(v))

    def unary(self) -> Node:
        if self.at("!"):
            self.take()
            inner = self.unary()
            return lambda v: not to_boolean(inner(v))
        if self.at("-"):
            self.take()
            inner = self.unary()
            return lambda v: -to_number(inner(v))
        if self.peek().kind == "empty":
            self.take()
            inner = self.unary()
            return lambda v: _empty(inner(v))
        return self.postfix()

    def postfix(self) -> Node:
        node = self.primary()
        while self.at(".", "["):
            if self.take().text == ".":
                name = self.take().text
                if self.at("("):
                    args = self.arguments()
                    node = self._method(node, name, args)
                else:
                    node = self._property(node, name)
            else:
                index = self.ternary()
                self.take("]")
                node = self._index(node, index)
        return node

    @staticmethod
    def _method(target: Node, name: str, args: list[Node]) -> Node:
        return lambda v: _call(target(v), name, [a(v) for a in args])

    @staticmethod
    def _property(target: Node, name: str) -> Node:
        def get(v: Variables) -> Any:
            obj = target(v)
            if isinstance(obj, dict):
                return obj.get(name)
            raise ELError(f"Property '{name}' not found on {type(obj).__name__}")

        return get

    @staticmethod
    def _index(target: Node, index: Node) -> Node:
        def get(v: Variables) -> Any:
            obj, key = target(v), index(v)
            if isinstance(obj, dict):
                return obj.get(key)
            if isinstance(obj, list):
                return obj[int(to_number(key))]
            raise ELError(f"cannot index {type(obj).__name__}")

        return get

    def arguments(self) -> list[Node]:
        self.take("(")
        args: list[Node] = []
        if not self.at(")"):
            args.append(self.ternary())
            while self.at(","):
                self.take(",")
                args.append(self.ternary())
        self.take(")")
        return args

    def primary(self) -> Node:
        tok = self.take()
        if tok.kind == "number":
            value: Any = float(tok.text) if _is_float(tok.text) else int(tok.text)
            return lambda v: value
        if tok.kind == "string":
            text = re.sub(r"\\(.)", r"\1", tok.text[1:-1])
            return lambda v: text
        if tok.kind in ("true", "false"):
            flag = tok.kind == "true"
            return lambda v: flag
        if tok.kind == "null":
            return lambda v: None
        if tok.kind == "ident":
            name = tok.text
            if self.at("("):
                raise ELError(f"function {name}() is not available")
            return self._identifier(name)
        if tok.text == "(":
            node = self.ternary()
            self.take(")")
            return node
        raise ELError(f"unexpected {tok.text!r} in {self.source!r}")

    @staticmethod
    def _identifier(name: str) -> Node:
        def resolve(v: Variables) -> Any:
            if name == "execution":
                return Execution(v, v.instance if isinstance(v, _Scope) else None)
            if name not in v:
                raise ELError(
                    f"Unknown property used in expression: Cannot resolve identifier '{name}'"
                )
            return v[name]

        return resolve


_COMPOSITE = re.compile(r"[$#]\{((?:[^}'\"]|'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")*)\}")


class _Scope(MutableMapping[str, Any]):
    """The instance's variables (written through) with what the engine knows of the instance."""

    def __init__(self, variables: Variables, instance: InstanceInfo) -> None:
        self.variables = variables
        self.instance = instance

    def __getitem__(self, key: str) -> Any:
        return self.variables[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.variables[key] = value

    def __delitem__(self, key: str) -> None:
        del self.variables[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.variables)

    def __len__(self) -> int:
        return len(self.variables)


def evaluate(expression: str, variables: Variables, instance: InstanceInfo | None = None) -> Any:
    """Evaluate a Camunda expression text: one `${...}` gives its value, literal text itself,
    and a mix of both the concatenated string. `instance` answers
    execution.getProcessInstanceId() / getProcessBusinessKey() (None without it)."""
    if instance is not None:
        variables = _Scope(variables, instance)
    text = expression.strip()
    parts = list(_COMPOSITE.finditer(text))
    if not parts:
        return text
    if len(parts) == 1 and parts[0].span() == (0, len(text)):
        return _Parser(parts[0].group(1)).parse()(variables)
    out, last = [], 0
    for part in parts:
        out.append(text[last : part.start()])
        out.append(to_string(_Parser(part.group(1)).parse()(variables)))
        last = part.end()
    out.append(text[last:])
    return "".join(out)


def identifiers_read(expression: str) -> set[str]:
    """Variable names an expression reads: bare identifiers and execution.getVariable('x')."""
    names: set[str] = set()
    for part in _COMPOSITE.finditer(expression):
        body = part.group(1)
        names.update(re.findall(r"getVariable\(\s*'([^']+)'\s*\)", body))
        stripped = re.sub(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"", "''", body)
        for match in re.finditer(r"(?<![.\w])([A-Za-z_]\w*)(?!\s*\()", stripped):
            word = match.group(1)
            if word not in _KEYWORDS and word not in (
                "execution",
                "empty",
                "true",
                "false",
                "null",
                "instanceof",
            ):
                names.add(word)
    return names
