"""The subset of JQL the simulator understands, with Jira's semantics for it.

`parse_jql` turns a query into a tree; `Search` evaluates it against issues through a
`FieldCatalog` the simulator provides (which fields exist, their kind, an issue's values).
Semantics kept from Jira because apps depend on them:

- string comparisons are case-insensitive; `!=` and `NOT IN` never match an issue whose
  field is empty (Jira's documented behaviour, e.g. `assignee != bob` skips unassigned);
- `~` on text fields matches words, not substrings;
- relative dates (`-2d`, `-48h`, `-1w`, `-30m`) are relative to now; date literals are
  `yyyy-MM-dd`, `yyyy/MM/dd`, optionally followed by ` HH:mm`;
- a field that does not exist, an operator the field does not support, or a query with no
  restriction at all (the paginated search refuses unbounded queries) is a `JqlError`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

FieldKind = Literal["string", "number", "date", "text"]


class JqlError(ValueError):
    """A query Jira would refuse with 400; the message is Jira's wording."""


@dataclass(frozen=True)
class Value:
    text: str
    quoted: bool = False
    function: bool = False
    args: tuple[str, ...] = ()


@dataclass(frozen=True)
class Clause:
    field: str
    operator: str  # "=", "!=", "~", "!~", ">", ">=", "<", "<=", "in", "not in", "is", "is not"
    values: tuple[Value, ...]  # one for scalar operators, several for IN, empty for IS [NOT] EMPTY


@dataclass(frozen=True)
class BoolOp:
    operator: Literal["and", "or"]
    parts: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    part: Node


Node = Clause | BoolOp | Not


@dataclass(frozen=True)
class Query:
    where: Node | None
    order_by: tuple[tuple[str, bool], ...] = field(default=())  # (field, descending)


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<op>!=|!~|>=|<=|=|~|>|<)
      | (?P<punct>[(),])
      | (?P<word>[^\s()",=!~<>']+)
    )""",
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not", "in", "is", "empty", "null", "order", "by", "asc", "desc"}


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str

    @property
    def keyword(self) -> str | None:
        lowered = self.text.lower()
        return lowered if self.kind == "word" and lowered in _KEYWORDS else None


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise JqlError(f"Error in the JQL Query: The character '{text[position]}' is a reserved JQL character.")
        position = match.end()
        if match.group("string") is not None:
            raw = match.group("string")[1:-1]
            tokens.append(_Token("string", re.sub(r"\\(.)", r"\1", raw)))
        elif match.group("op") is not None:
            tokens.append(_Token("op", match.group("op")))
        elif match.group("punct") is not None:
            tokens.append(_Token("punct", match.group("punct")))
        elif match.group("word") is not None:
            tokens.append(_Token("word", match.group("word")))
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.index = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.peek()
        if token is None:
            raise JqlError(f"Error in the JQL Query: Expecting more input at the end of the query '{self.text}'.")
        self.index += 1
        return token

    def accept_keyword(self, keyword: str) -> bool:
        token = self.peek()
        if token is not None and token.keyword == keyword:
            self.index += 1
            return True
        return False

    def expect_punct(self, punct: str) -> None:
        token = self.take()
        if token.kind != "punct" or token.text != punct:
            raise JqlError(f"Error in the JQL Query: Expecting '{punct}' but got '{token.text}'.")

    def parse(self) -> Query:
        where: Node | None = None
        token = self.peek()
        if token is not None and token.keyword != "order":
            where = self.parse_or()
        order: list[tuple[str, bool]] = []
        if self.accept_keyword("order"):
            if not self.accept_keyword("by"):
                raise JqlError("Error in the JQL Query: Expecting 'by' after 'order'.")
            while True:
                name = self.take()
                if name.kind not in ("word", "string") or name.keyword:
                    raise JqlError(f"Error in the JQL Query: Expecting a field name but got '{name.text}'.")
                descending = False
                if self.accept_keyword("desc"):
                    descending = True
                else:
                    self.accept_keyword("asc")
                order.append((name.text, descending))
                token = self.peek()
                if token is not None and token.kind == "punct" and token.text == ",":
                    self.index += 1
                    continue
                break
        leftover = self.peek()
        if leftover is not None:
            raise JqlError(f"Error in the JQL Query: Expecting either 'OR' or 'AND' but got '{leftover.text}'.")
        return Query(where, tuple(order))

    def parse_or(self) -> Node:
        parts = [self.parse_and()]
        while self.accept_keyword("or"):
            parts.append(self.parse_and())
        return parts[0] if len(parts) == 1 else BoolOp("or", tuple(parts))

    def parse_and(self) -> Node:
        parts = [self.parse_not()]
        while self.accept_keyword("and"):
            parts.append(self.parse_not())
        return parts[0] if len(parts) == 1 else BoolOp("and", tuple(parts))

    def parse_not(self) -> Node:
        if self.accept_keyword("not"):
            return Not(self.parse_not())
        token = self.peek()
        if token is not None and token.kind == "punct" and token.text == "(":
            self.index += 1
            inner = self.parse_or()
            self.expect_punct(")")
            return inner
        return self.parse_clause()

    def parse_clause(self) -> Clause:
        name = self.take()
        if name.kind not in ("word", "string") or name.keyword:
            raise JqlError(f"Error in the JQL Query: Expecting a field name but got '{name.text}'.")
        token = self.take()
        if token.kind == "op":
            return Clause(name.text, token.text, (self.parse_value(),))
        if token.keyword == "in":
            return Clause(name.text, "in", self.parse_list())
        if token.keyword == "not":
            if not self.accept_keyword("in"):
                raise JqlError("Error in the JQL Query: Expecting 'IN' after 'NOT'.")
            return Clause(name.text, "not in", self.parse_list())
        if token.keyword == "is":
            negated = self.accept_keyword("not")
            if not (self.accept_keyword("empty") or self.accept_keyword("null")):
                raise JqlError("Error in the JQL Query: Expecting 'EMPTY' or 'NULL' after 'IS'.")
            return Clause(name.text, "is not" if negated else "is", ())
        raise JqlError(f"Error in the JQL Query: Expecting operator but got '{token.text}'.")

    def parse_list(self) -> tuple[Value, ...]:
        self.expect_punct("(")
        values = [self.parse_value()]
        while True:
            token = self.take()
            if token.kind == "punct" and token.text == ",":
                values.append(self.parse_value())
            elif token.kind == "punct" and token.text == ")":
                return tuple(values)
            else:
                raise JqlError(f"Error in the JQL Query: Expecting ',' or ')' but got '{token.text}'.")

    def parse_value(self) -> Value:
        token = self.take()
        if token.kind == "string":
            return Value(token.text, quoted=True)
        if token.kind != "word" or token.keyword in ("and", "or", "order", "in", "is", "not"):
            raise JqlError(f"Error in the JQL Query: Expecting a value but got '{token.text}'.")
        following = self.peek()
        if following is not None and following.kind == "punct" and following.text == "(":
            self.index += 1
            args: list[str] = []
            while True:
                part = self.take()
                if part.kind == "punct" and part.text == ")":
                    break
                if part.kind == "punct" and part.text == ",":
                    continue
                args.append(part.text)
            return Value(token.text, function=True, args=tuple(args))
        return Value(token.text)


def parse_jql(text: str) -> Query:
    """Parse `text`; raises `JqlError` with Jira's wording when it is not valid JQL."""
    return _Parser(text or "").parse()


class FieldCatalog(Protocol):
    """What the simulator tells the evaluator about its fields."""

    def kind(self, field: str) -> FieldKind:
        """The field's kind; raises JqlError when the field does not exist."""

    def values(self, issue: Any, field: str) -> list[Any]:
        """The issue's values for `field` (strings, numbers or aware datetimes); empty if none."""

    def check_value(self, field: str, value: str) -> None:
        """Raise JqlError when Jira would refuse `value` for `field` (unknown key or project)."""


_RELATIVE = re.compile(r"^([+-]?)(\d+)([wdhm])$", re.IGNORECASE)
_UNITS = {"w": timedelta(weeks=1), "d": timedelta(days=1), "h": timedelta(hours=1), "m": timedelta(minutes=1)}


def date_value(value: Value, now: datetime) -> datetime:
    """The instant a JQL date operand names."""
    if value.function:
        name = value.text.lower()
        if name == "now":
            return now
        if name == "startofday":
            return now.replace(hour=0, minute=0, second=0, microsecond=0)
        raise JqlError(f"Error in the JQL Query: Unable to find JQL function '{value.text}()'.")
    text = value.text.strip()
    relative = _RELATIVE.match(text)
    if relative:
        sign = -1 if relative.group(1) == "-" else 1
        return now + sign * int(relative.group(2)) * _UNITS[relative.group(3).lower()]
    for pattern in ("%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M", "%Y-%m-%d", "%Y/%m/%d"):
        try:
            return datetime.strptime(text, pattern).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise JqlError(
        f"Date value '{text}' is invalid. Valid formats include: 'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', "
        "'yyyy/MM/dd', 'yyyy-MM-dd', or a period format e.g. '-5d', '4w 2d'."
    )


_OPERATORS: dict[FieldKind, frozenset[str]] = {
    "string": frozenset({"=", "!=", "in", "not in", "is", "is not"}),
    "number": frozenset({"=", "!=", "in", "not in", "is", "is not", ">", ">=", "<", "<="}),
    "date": frozenset({"=", "!=", "in", "not in", "is", "is not", ">", ">=", "<", "<="}),
    "text": frozenset({"~", "!~", "is", "is not"}),
}
_WORD = re.compile(r"[\w]+", re.UNICODE)


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def _text_matches(haystack: str, needle: str) -> bool:
    terms = _words(needle)
    words = _words(haystack)
    if not terms:
        return False
    if len(terms) > 1 and needle.strip().startswith('"'):
        return " ".join(terms) in " ".join(words)
    # Jira stems words; a word starting with the term (fix -> fixed, fixes) stands in for that.
    return all(any(word.startswith(term.rstrip("*")) for word in words) for term in terms)


class Search:
    """A parsed query bound to a catalog, ready to filter and sort issues."""

    def __init__(self, jql: str, catalog: FieldCatalog, *, now: datetime | None = None) -> None:
        self.query = parse_jql(jql)
        self.catalog = catalog
        self.now = now or datetime.now(UTC)
        if self.query.where is None:
            raise JqlError("Unbounded JQL queries are not allowed here. Please add a search restriction to your query.")
        self._validate(self.query.where)
        for name, _desc in self.query.order_by:
            catalog.kind(name)

    def _validate(self, node: Node) -> None:
        if isinstance(node, BoolOp):
            for part in node.parts:
                self._validate(part)
        elif isinstance(node, Not):
            self._validate(node.part)
        else:
            kind = self.catalog.kind(node.field)
            if node.operator not in _OPERATORS[kind]:
                raise JqlError(f"The operator '{node.operator}' is not supported by the '{node.field}' field.")
            for value in node.values:
                if kind == "date":
                    date_value(value, self.now)
                elif kind == "number" and not value.function:
                    try:
                        float(value.text)
                    except ValueError:
                        raise JqlError(f"The value '{value.text}' is not valid for the field '{node.field}'.") from None
                elif kind == "string" and not value.function:
                    self.catalog.check_value(node.field, value.text)

    def named_issues(self) -> tuple[str, ...] | None:
        """The keys or ids a `key = X` or `key in (...)` clause, alone or ANDed with others, limits
        the query to; None when it has no such clause. A search looks these up rather than testing
        every issue of the site (the answer is the same: each is still tested)."""
        where = self.query.where
        parts = where.parts if isinstance(where, BoolOp) and where.operator == "and" else (where,)
        for part in parts:
            if (isinstance(part, Clause) and part.field.lower() in ("key", "issuekey", "id")
                    and part.operator in ("=", "in") and not any(v.function for v in part.values)):
                return tuple(value.text for value in part.values)
        return None

    def matches(self, issue: Any) -> bool:
        assert self.query.where is not None
        return self._eval(self.query.where, issue)

    def _eval(self, node: Node, issue: Any) -> bool:
        if isinstance(node, BoolOp):
            results = (self._eval(part, issue) for part in node.parts)
            return all(results) if node.operator == "and" else any(results)
        if isinstance(node, Not):
            return not self._eval(node.part, issue)
        return self._clause(node, issue)

    def _clause(self, clause: Clause, issue: Any) -> bool:
        kind = self.catalog.kind(clause.field)
        actual = [v for v in self.catalog.values(issue, clause.field) if v is not None and v != ""]
        operator = clause.operator
        if operator == "is":
            return not actual
        if operator == "is not":
            return bool(actual)
        if not actual:
            return False
        if kind == "text":
            needle = clause.values[0].text
            found = any(_text_matches(str(v), needle) for v in actual)
            return found if operator == "~" else not found
        wanted = [self._operand(kind, value) for value in clause.values]
        have = [self._normalise(kind, v) for v in actual]
        if operator in ("=", "in"):
            return any(h == w for h in have for w in wanted)
        if operator in ("!=", "not in"):
            return not any(h == w for h in have for w in wanted)
        target = wanted[0]
        compare: Callable[[Any, Any], bool] = {
            ">": lambda a, b: a > b,
            ">=": lambda a, b: a >= b,
            "<": lambda a, b: a < b,
            "<=": lambda a, b: a <= b,
        }[operator]
        return any(compare(h, target) for h in have)

    def _operand(self, kind: FieldKind, value: Value) -> Any:
        if kind == "date":
            return date_value(value, self.now)
        if kind == "number":
            return float(value.text)
        return value.text.lower()

    @staticmethod
    def _normalise(kind: FieldKind, value: Any) -> Any:
        if kind == "date":
            if isinstance(value, str):
                value = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return value if value.tzinfo else value.replace(tzinfo=UTC)
        if kind == "number":
            return float(value)
        return str(value).lower()

    def sort(self, issues: Sequence[Any], default: Callable[[Any], Any]) -> list[Any]:
        """`issues` in the query's ORDER BY order, `default` breaking ties and ordering the rest."""
        ordered = sorted(issues, key=default)
        for name, descending in reversed(self.query.order_by):
            kind = self.catalog.kind(name)

            def key(issue: Any, name: str = name, kind: FieldKind = kind) -> tuple[bool, Any]:
                values = [v for v in self.catalog.values(issue, name) if v is not None and v != ""]
                if not values:
                    # Jira sorts empty values last in ascending order.
                    return (True, 0)
                normalised = self._normalise(kind, values[0])
                if isinstance(normalised, str):
                    # Natural order, so FEAT-9 sorts before FEAT-10 as in Jira.
                    normalised = tuple(
                        (0, int(part), "") if part.isdigit() else (1, 0, part)
                        for part in re.split(r"(\d+)", normalised)
                        if part
                    )
                return (False, normalised)

            present = [i for i in ordered if not key(i)[0]]
            empty = [i for i in ordered if key(i)[0]]
            present.sort(key=lambda i, key=key: key(i)[1], reverse=descending)
            ordered = present + empty if not descending else empty + present
        return ordered
