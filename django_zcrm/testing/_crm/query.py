"""The two query languages of the fake CRM: search ``criteria`` and COQL ``select_query``.

Both compile to a predicate over stored records. Errors are :class:`~.crm_util.CRMFault` with
Zoho's codes: ``INVALID_QUERY`` (unknown field, bad operator or value), ``SYNTAX_ERROR`` (COQL
grammar), ``LIMIT_EXCEEDED`` (too many criteria, select fields or rows).

Comparisons follow the field's ``data_type``: text case-insensitively, numbers numerically,
dates and datetimes by instant, lookups by id (search also by name), multi-select picklists by
membership (search) or as a ``;``-joined set (COQL). A null never satisfies a comparison other
than ``is null`` (COQL) or ``equals:${EMPTY}`` (search).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .schema import DECIMAL_TYPES, INTEGER_TYPES, LOOKUP_TYPES, FieldSpec, ModuleSpec
from .util import CRMFault, parse_date, parse_datetime

__all__ = ["CoqlQuery", "compile_criteria", "compile_coql", "Predicate"]

Predicate = Callable[[dict[str, Any]], bool]
Fetch = Callable[[str, str], "dict[str, Any] | None"]

_ORDERED_OPS = {"greater_than", "greater_equal", "less_than", "less_equal", "between"}
SEARCH_OPERATORS = {"equals", "not_equal", "starts_with", "in", "not_in"} | _ORDERED_OPS
EMPTY = "${EMPTY}"


def _invalid_query(message: str, **details: Any) -> CRMFault:
    return CRMFault(400, "INVALID_QUERY", message, details)


def _is_null(value: Any) -> bool:
    return value is None or value == "" or value == []


# --------------------------------------------------------------------------------------------------
# Typed comparison shared by search and COQL
# --------------------------------------------------------------------------------------------------


def _category(spec: FieldSpec | None) -> str:
    if spec is None:
        return "id"
    kind = spec.data_type
    if kind in INTEGER_TYPES | DECIMAL_TYPES:
        return "number"
    if kind in ("datetime", "date", "boolean", "multiselectpicklist"):
        return kind
    if kind in LOOKUP_TYPES:
        return "lookup"
    return "text"


def _stored_key(category: str, value: Any) -> Any:
    """The comparable form of a stored, non-null value."""
    if category == "number":
        return float(value)
    if category == "datetime":
        return parse_datetime(value)
    if category == "date":
        return parse_date(value).toordinal()
    if category == "id":
        return int(value)
    if category == "boolean":
        return bool(value)
    return str(value).casefold()


def _literal_key(category: str, literal: Any, api_name: str) -> Any:
    """The comparable form of a query literal; INVALID_QUERY when it does not fit the field."""
    try:
        if category == "number":
            if isinstance(literal, bool):
                raise ValueError
            return float(literal)
        if category == "datetime":
            return parse_datetime(str(literal))
        if category == "date":
            return parse_date(str(literal)).toordinal()
        if category == "id":
            return int(str(literal))
        if category == "boolean":
            if isinstance(literal, bool):
                return literal
            if str(literal).lower() in ("true", "false"):
                return str(literal).lower() == "true"
            raise ValueError
    except (TypeError, ValueError):
        raise _invalid_query(
            "invalid query formed",
            api_name=api_name,
            value=str(literal),
            reason="the value does not match the field's data type",
        ) from None
    return str(literal).casefold()


# --------------------------------------------------------------------------------------------------
# Search criteria: (Field:operator:value) joined by and/or, grouped with parentheses
# --------------------------------------------------------------------------------------------------


def _split_unescaped(text: str, sep: str, maxsplit: int = -1) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    escaped = False
    for char in text:
        if escaped:
            current.append("\\" + char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == sep and (maxsplit < 0 or len(parts) < maxsplit):
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    if escaped:
        current.append("\\")
    parts.append("".join(current))
    return parts


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def _search_condition(module: ModuleSpec, raw: str) -> Predicate:
    pieces = _split_unescaped(raw, ":", maxsplit=2)
    if len(pieces) != 3:
        raise _invalid_query(
            "invalid query formed",
            criteria=_unescape(raw),
            reason="expected (field:operator:value)",
        )
    name, operator, raw_value = pieces[0].strip(), pieces[1].strip().lower(), pieces[2]
    spec = None if name == "id" else module.get_field(name)
    if spec is None and name != "id":
        raise _invalid_query("invalid query formed", api_name=name, reason="no such field")
    if operator not in SEARCH_OPERATORS:
        raise _invalid_query(
            "invalid query formed", api_name=name, operator=operator, reason="unsupported operator"
        )
    category = _category(spec)
    values = (
        [_unescape(v) for v in _split_unescaped(raw_value, ",")]
        if operator in ("in", "not_in", "between")
        else [_unescape(raw_value)]
    )
    if operator == "between" and len(values) != 2:
        raise _invalid_query(
            "invalid query formed",
            api_name=name,
            operator=operator,
            reason="between needs two comma-separated values",
        )

    if values == [EMPTY] and operator in ("equals", "not_equal"):
        wants_empty = operator == "equals"
        return lambda record: _is_null(record.get(name)) == wants_empty

    if operator in _ORDERED_OPS:
        if category in ("lookup", "multiselectpicklist", "boolean"):
            raise _invalid_query(
                "invalid query formed",
                api_name=name,
                operator=operator,
                reason="operator not supported for this field type",
            )
        keys = [_literal_key(category, v, name) for v in values]
        compare = {
            "greater_than": lambda v: v > keys[0],
            "greater_equal": lambda v: v >= keys[0],
            "less_than": lambda v: v < keys[0],
            "less_equal": lambda v: v <= keys[0],
            "between": lambda v: keys[0] <= v <= keys[1],
        }[operator]

        def ordered(record: dict[str, Any]) -> bool:
            value = record.get(name)
            return not _is_null(value) and compare(_stored_key(category, value))

        return ordered

    if category == "lookup":
        wanted = [v.casefold() for v in values]

        def lookup_matches(record: dict[str, Any]) -> bool:
            value = record.get(name)
            if not isinstance(value, dict):
                return False
            ident, label = str(value.get("id", "")), str(value.get("name") or "").casefold()
            if operator == "starts_with":
                return label.startswith(wanted[0])
            return ident in values or label in wanted

        test = lookup_matches
    elif category == "multiselectpicklist":
        wanted = [v.casefold() for v in values]

        def multi_matches(record: dict[str, Any]) -> bool:
            value = record.get(name) or []
            items = [str(v).casefold() for v in value]
            if operator == "starts_with":
                return any(item.startswith(wanted[0]) for item in items)
            return any(w in items for w in wanted)

        test = multi_matches
    else:
        keys = [_literal_key(category, v, name) for v in values]
        if operator == "starts_with":
            if category != "text":
                raise _invalid_query(
                    "invalid query formed",
                    api_name=name,
                    operator=operator,
                    reason="starts_with needs a text field",
                )

            def prefix(record: dict[str, Any]) -> bool:
                value = record.get(name)
                return not _is_null(value) and str(value).casefold().startswith(keys[0])

            return prefix

        def equal(record: dict[str, Any]) -> bool:
            value = record.get(name) if name != "id" else record.get("id")
            return not _is_null(value) and _stored_key(category, value) in keys

        test = equal

    if operator in ("not_equal", "not_in"):
        return lambda record: not _is_null(record.get(name)) and not test(record)
    return test


class _CriteriaParser:
    def __init__(self, text: str, module: ModuleSpec, max_criteria: int) -> None:
        self.text = text
        self.pos = 0
        self.module = module
        self.max_criteria = max_criteria
        self.count = 0

    def fail(self, reason: str) -> CRMFault:
        return _invalid_query(
            "invalid query formed", criteria=self.text, position=self.pos, reason=reason
        )

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def parse(self) -> Predicate:
        predicate = self.expression()
        self.skip_space()
        if self.pos != len(self.text):
            raise self.fail("unexpected text after the criteria")
        return predicate

    def expression(self) -> Predicate:
        terms = [self.term()]
        operators: list[str] = []
        while True:
            self.skip_space()
            found = re.compile(r"(and|or)\b", re.I).match(self.text, self.pos)
            if not found:
                break
            operators.append(found.group(1).lower())
            self.pos = found.end()
            terms.append(self.term())
        # "and" binds tighter than "or".
        groups: list[list[Predicate]] = [[terms[0]]]
        for operator, term in zip(operators, terms[1:], strict=False):
            if operator == "and":
                groups[-1].append(term)
            else:
                groups.append([term])
        ands = [
            (lambda preds: lambda r: all(p(r) for p in preds))(g) if len(g) > 1 else g[0]
            for g in groups
        ]
        return ands[0] if len(ands) == 1 else (lambda r: any(p(r) for p in ands))

    def term(self) -> Predicate:
        self.skip_space()
        if self.pos >= len(self.text) or self.text[self.pos] != "(":
            raise self.fail("expected '('")
        self.pos += 1
        self.skip_space()
        if self.pos < len(self.text) and self.text[self.pos] == "(":
            inner = self.expression()
            self.skip_space()
            if self.pos >= len(self.text) or self.text[self.pos] != ")":
                raise self.fail("expected ')'")
            self.pos += 1
            return inner
        start = self.pos
        escaped = False
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == ")":
                break
            elif char == "(":
                raise self.fail("unescaped '(' inside a condition")
            self.pos += 1
        if self.pos >= len(self.text):
            raise self.fail("missing ')'")
        raw = self.text[start : self.pos]
        self.pos += 1
        self.count += 1
        if self.count > self.max_criteria:
            raise CRMFault(
                400,
                "LIMIT_EXCEEDED",
                f"maximum of {self.max_criteria} criteria exceeded",
                {"limit": self.max_criteria},
            )
        return _search_condition(self.module, raw)


def compile_criteria(text: str, module: ModuleSpec, *, max_criteria: int = 10) -> Predicate:
    """Compile a search ``criteria`` parameter into a record predicate."""
    if not text.strip():
        raise _invalid_query("invalid query formed", criteria=text, reason="empty criteria")
    return _CriteriaParser(text.strip(), module, max_criteria).parse()


# --------------------------------------------------------------------------------------------------
# COQL
# --------------------------------------------------------------------------------------------------

_TOKEN_RE = re.compile(
    r"""
    \s*(?:
      (?P<string>'(?:[^'\\]|\\.|'')*')
    | (?P<number>-?\d+(?:\.\d+)?)(?![\w.])
    | (?P<op><=|>=|!=|<>|=|<|>)
    | (?P<punct>[(),*;])
    | (?P<ident>[A-Za-z_$][A-Za-z0-9_$]*(?:\.[A-Za-z_$][A-Za-z0-9_$]*)*)
    )""",
    re.X,
)

_KEYWORDS = {
    "select",
    "from",
    "where",
    "order",
    "by",
    "asc",
    "desc",
    "limit",
    "offset",
    "and",
    "or",
    "not",
    "in",
    "like",
    "between",
    "is",
    "null",
    "true",
    "false",
}


@dataclass
class _Token:
    kind: str  # string, number, op, punct, ident, keyword, end
    value: Any
    text: str
    pos: int


def _tokenize(query: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while True:
        while pos < len(query) and query[pos].isspace():
            pos += 1
        if pos >= len(query):
            break
        found = _TOKEN_RE.match(query, pos)
        if not found or found.end() == pos:
            raise CRMFault(
                400,
                "SYNTAX_ERROR",
                f"error at position {pos} in the query",
                {"near": query[pos : pos + 20], "position": pos},
            )
        kind = found.lastgroup or ""
        text = found.group(kind)
        start = found.start(kind)
        value: Any = text
        if kind == "string":
            value = re.sub(r"\\(.)", r"\1", text[1:-1].replace("''", "'"))
        elif kind == "number":
            value = float(text) if "." in text else int(text)
        elif kind == "ident" and text.lower() in _KEYWORDS:
            kind, value = "keyword", text.lower()
        tokens.append(_Token(kind, value, text, start))
        pos = found.end()
    tokens.append(_Token("end", None, "", len(query)))
    return tokens


@dataclass
class _Column:
    path: str  # as written: "Last_Name", "Account_Name.Account_Name", "id"
    spec: FieldSpec | None  # the final field (None: id)
    lookup: FieldSpec | None  # the lookup field for a join

    def value(self, record: dict[str, Any], fetch: Fetch) -> Any:
        if self.lookup is None:
            return record.get("id") if self.spec is None else record.get(self.spec.api_name)
        ref = record.get(self.lookup.api_name)
        if not isinstance(ref, dict) or not ref.get("id"):
            return None
        target = fetch(self.lookup.lookup or "", str(ref["id"]))
        if target is None:
            return None
        return target.get("id") if self.spec is None else target.get(self.spec.api_name)


@dataclass
class CoqlQuery:
    """A compiled COQL query."""

    module: str
    columns: list[_Column]
    where: Callable[[dict[str, Any], Fetch], bool] | None
    order: list[tuple[_Column, bool]]
    limit: int
    offset: int

    def run(
        self, records: Iterable[dict[str, Any]], fetch: Fetch
    ) -> tuple[list[dict[str, Any]], bool]:
        """Return ``(rows, more_records)`` for ``records`` of the module."""
        where = self.where
        matched = [r for r in records if where is None or where(r, fetch)]
        # Stable sorts, last key first; ties fall back to id ascending.
        matched.sort(key=lambda r: int(r["id"]))
        for column, descending in reversed(self.order):
            category = _category(column.spec)

            def key(
                record: dict[str, Any], column: _Column = column, category: str = category
            ) -> Any:
                value = column.value(record, fetch)
                if _is_null(value):
                    return (0, 0)
                if category == "lookup":
                    return (1, str(value.get("name") or value.get("id") or "").casefold())
                if category == "multiselectpicklist":
                    return (1, ";".join(value).casefold())
                try:
                    return (1, _stored_key(category, value))
                except (TypeError, ValueError):
                    return (0, 0)

            matched.sort(key=key, reverse=descending)
        window = matched[self.offset : self.offset + self.limit]
        rows = [self._row(record, fetch) for record in window]
        return rows, len(matched) > self.offset + self.limit

    def _row(self, record: dict[str, Any], fetch: Fetch) -> dict[str, Any]:
        row: dict[str, Any] = {}
        for column in self.columns:
            value = column.value(record, fetch)
            if (
                column.spec is not None
                and column.spec.data_type in LOOKUP_TYPES
                and isinstance(value, dict)
            ):
                value = {"id": value.get("id")}
            elif isinstance(value, (dict, list)):
                value = value.copy()
            row[column.path] = value
        row["id"] = record["id"]
        return row


class _CoqlParser:
    def __init__(
        self,
        query: str,
        modules: dict[str, ModuleSpec],
        *,
        max_select: int,
        max_criteria: int,
        max_limit: int,
        max_reach: int,
        max_in_values: int,
    ) -> None:
        self.query = query
        self.tokens = _tokenize(query)
        self.index = 0
        self.modules = modules
        self.max_select = max_select
        self.max_criteria = max_criteria
        self.max_limit = max_limit
        self.max_reach = max_reach
        self.max_in_values = max_in_values
        self.criteria = 0
        self.clause = "select"
        self.module: ModuleSpec | None = None

    # -- token helpers --------------------------------------------------------------------------------

    @property
    def current(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        if token.kind != "end":
            self.index += 1
        return token

    def syntax(self, expected: str) -> CRMFault:
        token = self.current
        near = token.text or "end of query"
        return CRMFault(
            400,
            "SYNTAX_ERROR",
            f"error at '{near}' in the {self.clause} clause: expected {expected}",
            {"clause": self.clause, "near": near, "position": token.pos},
        )

    def keyword(self, *words: str) -> str | None:
        token = self.current
        if token.kind == "keyword" and token.value in words:
            self.advance()
            return str(token.value)
        return None

    def expect_keyword(self, word: str) -> None:
        if self.keyword(word) is None:
            raise self.syntax(f"'{word}'")

    def punct(self, char: str) -> bool:
        if self.current.kind == "punct" and self.current.value == char:
            self.advance()
            return True
        return False

    # -- grammar ----------------------------------------------------------------------------------------

    def parse(self) -> CoqlQuery:
        self.expect_keyword("select")
        names = self.select_list()
        self.clause = "from"
        self.expect_keyword("from")
        if self.current.kind != "ident":
            raise self.syntax("a module API name")
        module_name = self.advance().value
        module = self.modules.get(module_name) or next(
            (m for m in self.modules.values() if m.api_name.lower() == module_name.lower()), None
        )
        if module is None:
            raise _invalid_query(
                "invalid query formed", module=module_name, reason="no such module"
            )
        self.module = module
        columns = self.columns(names)
        where = None
        if self.keyword("where"):
            self.clause = "where"
            where = self.condition()
        order: list[tuple[_Column, bool]] = []
        if self.keyword("order"):
            self.clause = "order by"
            self.expect_keyword("by")
            while True:
                if self.current.kind != "ident":
                    raise self.syntax("a field name")
                column = self.column(self.advance().value)
                direction = self.keyword("asc", "desc")
                order.append((column, direction == "desc"))
                if not self.punct(","):
                    break
        limit, offset = 200, 0
        if self.keyword("limit"):
            self.clause = "limit"
            first = self.integer()
            if self.punct(","):
                offset, limit = first, self.integer()
            else:
                limit = first
                if self.keyword("offset"):
                    offset = self.integer()
        self.punct(";")
        if self.current.kind != "end":
            raise self.syntax("end of query")
        if limit < 1 or limit > self.max_limit:
            raise CRMFault(
                400,
                "LIMIT_EXCEEDED",
                f"the limit must be between 1 and {self.max_limit}",
                {"clause": "limit", "limit": self.max_limit},
            )
        if offset + limit > self.max_reach:
            raise CRMFault(
                400,
                "LIMIT_EXCEEDED",
                f"offset and limit together cannot reach beyond {self.max_reach} records",
                {"clause": "offset", "limit": self.max_reach},
            )
        return CoqlQuery(module.api_name, columns, where, order, limit, offset)

    def integer(self) -> int:
        token = self.current
        if token.kind != "number" or not isinstance(token.value, int) or token.value < 0:
            raise self.syntax("a non-negative whole number")
        self.advance()
        return int(token.value)

    def select_list(self) -> list[str]:
        names: list[str] = []
        while True:
            token = self.current
            if token.kind == "punct" and token.value == "*":
                raise CRMFault(
                    400,
                    "SYNTAX_ERROR",
                    "select * is not supported; name the fields",
                    {"clause": "select", "near": "*", "position": token.pos},
                )
            if token.kind != "ident":
                raise self.syntax("a field name")
            names.append(self.advance().value)
            if not self.punct(","):
                return names

    def columns(self, names: list[str]) -> list[_Column]:
        if len(names) > self.max_select:
            raise CRMFault(
                400,
                "LIMIT_EXCEEDED",
                f"at most {self.max_select} fields can be selected",
                {"clause": "select", "limit": self.max_select},
            )
        seen: set[str] = set()
        columns = []
        for name in names:
            if name.lower() in seen:
                raise CRMFault(
                    400,
                    "DUPLICATE_DATA",
                    "duplicate column in the select clause",
                    {"clause": "select", "column_name": name},
                )
            seen.add(name.lower())
            columns.append(self.column(name))
        return columns

    def column(self, path: str) -> _Column:
        assert self.module is not None
        head, _, rest = path.partition(".")
        if not rest:
            if head.lower() == "id":
                return _Column("id", None, None)
            spec = self.module.get_field(head, ignore_case=True)
            if spec is None:
                raise _invalid_query(
                    "invalid query formed",
                    column_name=path,
                    clause=self.clause,
                    reason="no such field",
                )
            return _Column(path, spec, None)
        lookup = self.module.get_field(head, ignore_case=True)
        if lookup is None or lookup.data_type != "lookup" or not lookup.lookup or "." in rest:
            raise _invalid_query(
                "invalid query formed",
                column_name=path,
                clause=self.clause,
                reason="only one join through a lookup field is supported",
            )
        target = self.modules[lookup.lookup]
        if rest.lower() == "id":
            return _Column(path, None, lookup)
        spec = target.get_field(rest, ignore_case=True)
        if spec is None:
            raise _invalid_query(
                "invalid query formed",
                column_name=path,
                clause=self.clause,
                reason="no such field in the joined module",
            )
        return _Column(path, spec, lookup)

    Cond = Callable[[dict[str, Any], Fetch], bool]

    def condition(self) -> Cond:
        parts = [self.conjunction()]
        while self.keyword("or"):
            parts.append(self.conjunction())
        if len(parts) == 1:
            return parts[0]
        return lambda record, fetch: any(part(record, fetch) for part in parts)

    def conjunction(self) -> Cond:
        parts = [self.atom()]
        while self.keyword("and"):
            parts.append(self.atom())
        if len(parts) == 1:
            return parts[0]
        return lambda record, fetch: all(part(record, fetch) for part in parts)

    def atom(self) -> Cond:
        if self.punct("("):
            inner = self.condition()
            if not self.punct(")"):
                raise self.syntax("')'")
            return inner
        if self.current.kind != "ident":
            raise self.syntax("a field name")
        column = self.column(self.advance().value)
        self.criteria += 1
        if self.criteria > self.max_criteria:
            raise CRMFault(
                400,
                "LIMIT_EXCEEDED",
                f"at most {self.max_criteria} criteria are allowed",
                {"clause": "where", "limit": self.max_criteria},
            )
        return self.comparison(column)

    def literal(self) -> Any:
        token = self.current
        if token.kind in ("string", "number"):
            self.advance()
            return token.value
        if token.kind == "keyword" and token.value in ("true", "false"):
            self.advance()
            return token.value == "true"
        raise self.syntax("a value")

    def comparison(self, column: _Column) -> Cond:
        if self.keyword("is"):
            negate = self.keyword("not") is not None
            self.expect_keyword("null")
            return lambda record, fetch: _is_null(column.value(record, fetch)) != negate
        negate = self.keyword("not") is not None
        if self.keyword("in"):
            if not self.punct("("):
                raise self.syntax("'('")
            values = [self.literal()]
            while self.punct(","):
                values.append(self.literal())
            if not self.punct(")"):
                raise self.syntax("')'")
            if len(values) > self.max_in_values:
                raise CRMFault(
                    400,
                    "LIMIT_EXCEEDED",
                    f"at most {self.max_in_values} values in an in clause",
                    {"clause": "where", "limit": self.max_in_values},
                )
            test = self.equality(column, values)
            return self.negatable(column, test, negate)
        if self.keyword("like"):
            token = self.current
            if token.kind != "string":
                raise self.syntax("a quoted pattern")
            self.advance()
            pattern = re.compile(
                "^" + ".*".join(re.escape(part) for part in str(token.value).split("%")) + "$",
                re.I | re.S,
            )

            def like(record: dict[str, Any], fetch: Fetch) -> bool:
                value = column.value(record, fetch)
                if isinstance(value, list):
                    value = ";".join(value)
                elif isinstance(value, dict):
                    value = value.get("name") or value.get("id")
                return bool(pattern.match(str(value)))

            return self.negatable(column, like, negate)
        if self.keyword("between"):
            low = self.literal()
            self.expect_keyword("and")
            high = self.literal()
            category = self.ordered_category(column)
            lo, hi = (
                _literal_key(category, low, column.path),
                _literal_key(category, high, column.path),
            )

            def between(record: dict[str, Any], fetch: Fetch) -> bool:
                return lo <= _stored_key(category, column.value(record, fetch)) <= hi

            return self.negatable(column, between, negate)
        if negate:
            raise self.syntax("'in', 'like' or 'between' after 'not'")
        token = self.current
        if token.kind != "op":
            raise self.syntax("a comparison operator")
        operator = self.advance().value
        value = self.literal()
        if operator in ("=", "!=", "<>"):
            test = self.equality(column, [value])
            return self.negatable(column, test, operator != "=")
        category = self.ordered_category(column)
        key = _literal_key(category, value, column.path)
        compare = {
            "<": lambda v: v < key,
            "<=": lambda v: v <= key,
            ">": lambda v: v > key,
            ">=": lambda v: v >= key,
        }[operator]
        return self.negatable(
            column,
            lambda record, fetch: compare(_stored_key(category, column.value(record, fetch))),
            False,
        )

    def ordered_category(self, column: _Column) -> str:
        category = _category(column.spec)
        if category in ("lookup", "multiselectpicklist", "boolean"):
            raise _invalid_query(
                "invalid query formed",
                column_name=column.path,
                reason="operator not supported for this field type",
            )
        return category

    def equality(self, column: _Column, values: list[Any]) -> Cond:
        category = _category(column.spec)
        if category == "text" and any(not isinstance(v, str) for v in values):
            raise _invalid_query(
                "invalid query formed",
                column_name=column.path,
                reason="text fields are compared with quoted strings",
            )
        if category == "lookup":
            ids = {str(v) for v in values}
            return lambda record, fetch: str((column.value(record, fetch) or {}).get("id")) in ids
        if category == "multiselectpicklist":
            wanted = [frozenset(p.casefold() for p in str(v).split(";") if p) for v in values]
            return lambda record, fetch: (
                frozenset(str(p).casefold() for p in column.value(record, fetch) or []) in wanted
            )
        keys = {_literal_key(category, v, column.path) for v in values}
        return lambda record, fetch: _stored_key(category, column.value(record, fetch)) in keys

    @staticmethod
    def negatable(column: _Column, test: Cond, negate: bool) -> Cond:
        # Nulls satisfy neither a comparison nor its negation (SQL semantics).
        def guarded(record: dict[str, Any], fetch: Fetch) -> bool:
            if _is_null(column.value(record, fetch)):
                return False
            return test(record, fetch) != negate

        return guarded


def compile_coql(
    query: str,
    modules: dict[str, ModuleSpec],
    *,
    max_select: int = 50,
    max_criteria: int = 25,
    max_limit: int = 2000,
    max_reach: int = 10_000,
    max_in_values: int = 50,
) -> CoqlQuery:
    """Parse ``select_query`` into a runnable :class:`CoqlQuery` (raises CRMFault on bad queries)."""
    if not isinstance(query, str) or not query.strip():
        raise CRMFault(400, "SYNTAX_ERROR", "the select_query is empty", {"clause": "select"})
    return _CoqlParser(
        query,
        modules,
        max_select=max_select,
        max_criteria=max_criteria,
        max_limit=max_limit,
        max_reach=max_reach,
        max_in_values=max_in_values,
    ).parse()
