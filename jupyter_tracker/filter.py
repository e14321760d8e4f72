"""The search filter language, parsed into parameterised SQL (values are never pasted into SQL).

Grammar (MLflow's, with parentheses and ``or``)::

    filter     := or_expr
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := term ("and" term)*
    term       := "(" or_expr ")" | comparison
    comparison := field op value | field [not] in "(" value ("," value)* ")" | field is [not] null
    field      := entity "." name [summary] | attribute name
    summary    := ".min" | ".max" | "@step=" integer        (metrics only)
    entity     := metric(s) | param(s) | parameter(s) | tag(s) | attribute(s) | attr | run | dataset(s),
                  bare or in backticks (`params`.lr)
    op         := = | != | <> | < | <= | > | >= | like | ilike | not like | not ilike

``name`` may be quoted with backticks or double quotes when it holds spaces or dots. A metric
field is its latest value; ``metrics.loss.min`` / ``metrics.acc.max`` its smallest / largest point
(NaN skipped) and ``metrics.val_loss@step=10`` its value at step 10 (in filters and order_by alike;
a key that itself ends in ".min" is written quoted: ``metrics."loss.min"``). Metrics
compare as numbers; params and tags as text, or as numbers when the literal is a number
(``params.lr < 0.05``). A run that lacks the key never matches, like in MLflow; ``IS NULL`` matches
exactly the runs that lack a param or tag (``IS NOT NULL`` those that have it).
Everything MLflow's ``search_runs`` accepts means here what it means in MLflow (its attribute
names ``run_id``, ``run_name``, ``status``, ``start_time``/``created``, ``end_time``, ``user_id``,
``artifact_uri``; ``datasets.name``/``digest``/``context``); ours adds ``or``, parentheses, ``not in``,
numeric param and tag comparisons and more attributes (``experiment``, ``duration_s``, ``git_commit`` ...).
Comparisons are typed here, before any SQL runs: metrics, ``duration_s`` and the times take
numbers (times also ISO dates such as '2026-12-01'), the other attributes and dataset fields take
quoted strings. Sizes are bounded (``MAX_FILTER_LENGTH``, ``MAX_COMPARISONS``, ``MAX_NESTING``,
``MAX_IN_VALUES``, ``MAX_ORDER_KEYS``) so no filter can recurse without end or hold the store's
lock for long: DuckDB's planning time grows steeply with the number of comparisons (200 took
4 s, 400 took a minute).
Hand-written rather than lark: the grammar is ten lines and error positions must be exact.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from .errors import InvalidFilterError

ATTRIBUTES = {
    "run_id": "r.run_id", "id": "r.run_id", "run_name": "r.run_name", "name": "r.run_name",
    "status": "r.status", "experiment": "e.name", "user": "r.user_name", "user_id": "r.user_name",
    "run name": "r.run_name", "created": "r.start_time", "host": "r.host",
    # MLflow's artifact URI is the store's URI prefix (a search parameter) + run id + "/artifacts";
    # ordering by it is ordering by run id.
    "artifact_uri": "r.run_id",
    "parent_run_id": "r.parent_run_id", "start_time": "r.start_time", "end_time": "r.end_time",
    "duration_s": "(coalesce(r.end_time, r.last_seen) - r.start_time) / 1000.0",
    "notebook_path": "r.notebook_path", "cell_id": "r.cell_id", "git_commit": "r.git_commit",
    "git_branch": "r.git_branch", "source_kind": "r.source_kind",
}
#: Attributes stored as tags: ``attributes.reproducibility`` is the tag the reproducibility verdict goes to.
TAG_ATTRIBUTES = {"reproducibility": "jt.reproducibility", "reproduction": "jt.reproduction"}
_TIME_ATTRIBUTES = {"start_time", "end_time", "created"}
_NUMERIC_ATTRIBUTES = _TIME_ATTRIBUTES | {"duration_s"}
_PREFIXES = {"metrics": "metric", "metric": "metric", "params": "param", "param": "param",
             "parameter": "param", "parameters": "param",
             "tags": "tag", "tag": "tag", "attributes": "attribute", "attribute": "attribute",
             "attr": "attribute", "run": "attribute",
             "datasets": "dataset", "dataset": "dataset", "inputs": "dataset", "input": "dataset"}
#: Fields of ``datasets.<field>`` (a run matches when any of its logged inputs does).
DATASET_FIELDS = {"digest": "digest", "name": "name", "context": "context", "source": "source"}
_KEYWORDS = {"and", "or", "in", "not", "like", "ilike", "asc", "desc", "is", "null"}

#: Longest filter or order_by text. Generous because the comparison view sends ``run_id IN (...)``
#: with up to ~1,300 full run ids; the comparison and value limits below bound the work.
MAX_FILTER_LENGTH = 50_000
#: Most comparisons in one filter (an ``IN`` list counts as one).
MAX_COMPARISONS = 100
#: Deepest nesting of parentheses.
MAX_NESTING = 32
#: Most values in one ``IN (...)`` list.
MAX_IN_VALUES = 5_000
#: Most keys in one order_by.
MAX_ORDER_KEYS = 20
#: Characters of the filter an error message quotes around the mistake.
_ECHO = 120

_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<number>[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|inf|nan)(?![\w.]))
  | (?P<string>'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.)*")
  | (?P<quoted>`[^`]*`)
  | (?P<op>!=|<>|<=|>=|=|<|>)
  | (?P<punct>[(),.@])
  | (?P<word>[A-Za-z_][A-Za-z0-9_\-/]*)
""", re.VERBOSE | re.IGNORECASE)


@dataclass
class Token:
    kind: str
    text: str
    position: int


def tokenize(text: str, what: str = "filter") -> list[Token]:
    tokens: list[Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise _error(text, position, f"unexpected character {text[position]!r}", what)
        kind = match.lastgroup
        if kind != "space":
            tokens.append(Token(kind, match.group(), position))  # type: ignore[arg-type]  # every alternative of _TOKEN is a named group
        position = match.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


def _error(text: str, position: int, message: str, what: str = "filter") -> InvalidFilterError:
    """The mistake, its position and the filter with a caret under it (a window of a long filter)."""
    start = max(0, position - _ECHO // 2)
    shown = text[start:start + _ECHO].replace("\n", " ").replace("\t", " ")
    before = "…" if start else ""
    after = "…" if start + _ECHO < len(text) else ""
    return InvalidFilterError(
        f"{message} at position {position} of the {what}:\n  {before}{shown}{after}\n"
        f"  {' ' * (len(before) + position - start)}^\n" + _EXAMPLES.get(what, _EXAMPLES["filter"]))


_EXAMPLES = {
    "filter": "Write comparisons like: metrics.acc > 0.9 and params.lr = '0.01' and tags.model != 'rf' and "
              "attributes.status = 'FINISHED'",
    "order_by": "Write order_by like: 'metrics.acc DESC', 'params.lr' or ['attributes.start_time ASC', 'tags.model']",
}


def _check_text(text: str, what: str) -> None:
    """Refuse text no filter needs: longer than ``MAX_FILTER_LENGTH`` or not encodable as UTF-8."""
    if len(text) > MAX_FILTER_LENGTH:
        raise InvalidFilterError(
            f"the {what} is {len(text):,} characters long; the limit is {MAX_FILTER_LENGTH:,}. "
            f"Split the search into several smaller ones, or select runs with jt.sql()")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidFilterError(f"the {what} holds {text[exc.start]!r} at position {exc.start}, which is not "
                                 f"valid Unicode text (a lone surrogate); remove it") from None


@dataclass
class Field:
    kind: str       # metric | param | tag | attribute | dataset
    name: str
    position: int
    #: For a metric: "" (its latest value), "min", "max" or "step=N" (its value at step N).
    summary: str = ""


#: What a metric field can name besides its latest value: ``metrics.loss.min``, ``metrics.acc.max``.
SUMMARY_SUFFIXES = ("min", "max")
_STEP_SUMMARY = re.compile(r"step=(\d{1,18})")


def check_summaries(summaries: list[str] | tuple[str, ...] | None) -> list[str]:
    """``search_runs``' ``summaries`` as a list: each "min", "max" or "step=N" (N a step number)."""
    if summaries is None:
        return []
    if isinstance(summaries, str) or not isinstance(summaries, (list, tuple)):
        raise InvalidFilterError(f"summaries is a list such as [\"min\", \"max\", \"step=10\"], not "
                                 f"{type(summaries).__name__} {summaries!r:.80}")
    for summary in summaries:
        if not isinstance(summary, str) or not (summary in SUMMARY_SUFFIXES or _STEP_SUMMARY.fullmatch(summary)):
            raise InvalidFilterError(f"unknown summary {summary!r:.80}; summaries are \"min\", \"max\" and "
                                     f"\"step=N\" (the value at step N, e.g. \"step=10\")")
    return list(dict.fromkeys(summaries))


def summary_suffix(summary: str) -> str:
    """What a summary's column name adds to ``metrics.<key>``: ``.min``, ``.max``, ``@step=10``."""
    return f"@{summary}" if summary.startswith("step=") else f".{summary}"


def metric_summary_sql(name: str, summary: str) -> tuple[str, list[Any]]:
    """A SELECT of (run_key, value): each run's ``summary`` of metric ``name``, with its parameters.
    Min and max skip NaN points (all NaN: NULL); ``step=N`` is the point logged last at step N."""
    key_filter = "key_id = (SELECT key_id FROM internal.metric_keys WHERE key = ?)"
    if summary.startswith("step="):
        return (f"SELECT run_key, arg_max(value, timestamp) AS value FROM internal.metrics "
                f"WHERE {key_filter} AND step = ? GROUP BY run_key", [name, int(summary[5:])])
    return (f"SELECT run_key, {summary}(value) FILTER (WHERE NOT isnan(value)) AS value FROM internal.metrics "
            f"WHERE {key_filter} GROUP BY run_key", [name])


def _unquote(token: Token) -> str:
    body = token.text[1:-1]
    if token.text[0] == "'":
        return body.replace("''", "'").replace("\\'", "'")
    return body.replace('\\"', '"')


class _Parser:
    def __init__(self, text: str, what: str = "filter", artifact_root: str = "") -> None:
        self.text = text
        self.artifact_root = artifact_root
        self.what = what
        self.tokens = tokenize(text, what)
        self.index = 0
        self.params: list[Any] = []
        self.depth = 0
        self.comparisons = 0
        #: The metric, param and tag fields the text names, in order (for the unknown-key warning).
        self.keys: list[Field] = []

    def error(self, position: int, message: str) -> InvalidFilterError:
        return _error(self.text, position, message, self.what)

    # -- token helpers --
    @property
    def token(self) -> Token:
        return self.tokens[self.index]

    def take(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def is_word(self, *words: str) -> bool:
        return self.token.kind == "word" and self.token.text.lower() in words

    def expect_punct(self, char: str) -> None:
        if self.token.kind != "punct" or self.token.text != char:
            found = self.token.text or "the end"
            raise self.error(self.token.position, f"expected {char!r} but found {found!r}")
        self.take()

    # -- grammar --
    def parse(self) -> str:
        sql = self.or_expr()
        if self.token.kind != "end":
            raise self.error(self.token.position,
                             f"expected 'and', 'or' or the end, found {self.token.text!r}")
        return sql

    def or_expr(self) -> str:
        parts = [self.and_expr()]
        while self.is_word("or"):
            self.take()
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"

    def and_expr(self) -> str:
        parts = [self.term()]
        while self.is_word("and"):
            self.take()
            parts.append(self.term())
        return parts[0] if len(parts) == 1 else "(" + " AND ".join(parts) + ")"

    def term(self) -> str:
        if self.token.kind == "punct" and self.token.text == "(":
            if self.depth >= MAX_NESTING:
                raise self.error(self.token.position,
                                 f"parentheses nest deeper than {MAX_NESTING} levels; remove the extra parentheses")
            self.take()
            self.depth += 1
            inner = self.or_expr()
            self.expect_punct(")")
            self.depth -= 1
            return inner
        self.comparisons += 1
        if self.comparisons > MAX_COMPARISONS:
            raise self.error(self.token.position,
                             f"the filter has more than {MAX_COMPARISONS} comparisons; combine values with "
                             f"IN (...) (e.g. params.lr IN ('0.1', '0.01')) or split the search")
        return self.comparison()

    def field(self) -> Field:
        token = self.token
        if token.kind == "quoted":
            self.take()
            entity = _unquote(token).lower()
            if not (entity in _PREFIXES and self.token.kind == "punct" and self.token.text == "."):
                return Field("attribute", _unquote(token), token.position)
            token = Token("word", entity, token.position)  # `params`.lr is params.lr, as in MLflow
            self.index -= 1
            self.tokens[self.index] = token
        if token.kind != "word" or token.text.lower() in _KEYWORDS:
            raise self.error(token.position,
                             f"expected a field such as metrics.acc or params.lr, found {token.text or 'the end'!r}")
        self.take()
        prefix = token.text.lower()
        if self.token.kind == "punct" and self.token.text == "." and prefix in _PREFIXES:
            self.take()
            name_token = self.take()
            summary = ""
            if name_token.kind in ("quoted", "string"):
                name = _unquote(name_token)
                if _PREFIXES[prefix] == "metric" and self.token.kind == "punct" and self.token.text == "." and \
                        self.tokens[self.index + 1].text in SUMMARY_SUFFIXES:
                    self.take()
                    summary = self.take().text
            elif name_token.kind in ("word", "number"):
                name = name_token.text
                while self.token.kind == "punct" and self.token.text == "." and \
                        self.tokens[self.index + 1].kind == "word":
                    self.take()
                    name += "." + self.take().text
                # Unquoted, a last ".min"/".max" is the summary (metrics."loss.min" is the key itself).
                base, dot, last = name.rpartition(".")
                if _PREFIXES[prefix] == "metric" and dot and base and last in SUMMARY_SUFFIXES:
                    name, summary = base, last
            else:
                raise self.error(name_token.position, f"expected a key name after '{token.text}.'")
            if self.token.kind == "punct" and self.token.text == "@":
                summary = self.step_summary(_PREFIXES[prefix], summary)
            field = Field(_PREFIXES[prefix], name, token.position, summary)
            if field.kind in ("metric", "param", "tag"):
                self.keys.append(field)
            return field
        if prefix in _PREFIXES:
            raise self.error(self.token.position, f"expected '.' and a key after {token.text!r}")
        return Field("attribute", token.text, token.position)

    def step_summary(self, kind: str, summary: str) -> str:
        """``@step=N`` after a metric's name: its value at step N."""
        at = self.take()
        if kind != "metric" or summary:
            raise self.error(at.position, "only a metric's latest value takes @step=N "
                             "(e.g. metrics.val_loss@step=10), not a param, tag or .min/.max")
        if not self.is_word("step"):
            raise self.error(self.token.position, "expected step=N after '@', e.g. metrics.val_loss@step=10")
        self.take()
        if self.token.kind != "op" or self.token.text != "=":
            raise self.error(self.token.position, "expected '=' and a step number after '@step'")
        self.take()
        number = self.take()
        if number.kind != "number" or not _STEP_SUMMARY.fullmatch(f"step={number.text}"):
            raise self.error(number.position, "expected a step number (0, 1, 2, ...) after '@step='")
        return f"step={number.text}"

    def value(self) -> tuple[str, Any, int]:
        token = self.take()
        if token.kind == "number":
            return "number", float(token.text), token.position
        if token.kind == "string":
            return "string", _unquote(token), token.position
        raise self.error(token.position,
                         f"expected a value (a number or a quoted string like 'rf'), found {token.text or 'the end'!r}")

    def comparison(self) -> str:
        field = self.field()
        if self.is_word("is"):
            return self.null_condition(field)
        negate = False
        if self.is_word("not"):
            self.take()
            negate = True
            if not self.is_word("in", "like", "ilike"):
                raise self.error(self.token.position, "expected IN, LIKE or ILIKE after NOT")
        if self.is_word("in"):
            self.take()
            self.expect_punct("(")
            values = [self.value()]
            while self.token.kind == "punct" and self.token.text == ",":
                if len(values) >= MAX_IN_VALUES:
                    raise self.error(self.token.position,
                                     f"an IN list holds at most {MAX_IN_VALUES:,} values; split the search")
                self.take()
                values.append(self.value())
            self.expect_punct(")")
            return self.condition(field, "NOT IN" if negate else "IN", values)
        if self.is_word("like", "ilike"):
            op = self.take().text.upper()
            value = self.value()
            if value[0] != "string":
                raise self.error(value[2], f"{op} needs a quoted pattern such as '%forest%'")
            return self.condition(field, f"NOT {op}" if negate else op, [value])
        if self.token.kind != "op":
            raise self.error(self.token.position,
                             f"expected a comparison (=, !=, <, <=, >, >=, LIKE, ILIKE, IN) after the field, "
                             f"found {self.token.text or 'the end'!r}")
        op = self.take().text
        op = "!=" if op == "<>" else op
        return self.condition(field, op, [self.value()])

    def null_condition(self, field: Field) -> str:
        """``params.k IS NULL`` (the run lacks the param) / ``IS NOT NULL`` (it has it); tags alike."""
        is_position = self.take().position
        negate = self.is_word("not")
        if negate:
            self.take()
        if not self.is_word("null"):
            raise self.error(self.token.position, f"expected NULL or NOT NULL after IS, found "
                             f"{self.token.text or 'the end'!r}; IS compares only with NULL")
        self.take()
        if field.kind not in ("param", "tag"):
            raise self.error(is_position, f"IS NULL / IS NOT NULL is only supported for params and tags "
                             f"(as in MLflow), not for {field.kind} {field.name!r}")
        table = "internal.params" if field.kind == "param" else "internal.tags"
        self.params.append(field.name)
        return f"r.run_key {'IN' if negate else 'NOT IN'} (SELECT run_key FROM {table} WHERE key = ?)"

    # -- SQL generation --
    def condition(self, field: Field, op: str, values: list[tuple[str, Any, int]]) -> str:
        numeric = all(kind == "number" for kind, _, _ in values)
        text_only = all(kind == "string" for kind, _, _ in values)
        if not (numeric or text_only):
            raise self.error(values[0][2], "an IN list must hold only numbers or only strings")
        if field.kind == "dataset":
            return self.dataset_condition(field, op, values)
        if field.kind == "metric":
            if not numeric:
                raise self.error(values[0][2],
                                 f"metrics.{field.name} is a number; compare it with a number (no quotes)")
            column = "value"
        elif field.kind in ("param", "tag"):
            column = "TRY_CAST(value AS DOUBLE)" if numeric and "LIKE" not in op else "value"
        else:
            return self.attribute_condition(field, op, values, numeric)
        if field.summary:
            summary_sql, summary_params = metric_summary_sql(field.name, field.summary)
            self.params.extend(summary_params)
            # NULL (every point NaN) and NaN match no comparison, as for latest values.
            return (f"r.run_key IN (SELECT run_key FROM ({summary_sql}) WHERE NOT isnan(value) AND "
                    f"{self.operand(column, op, values)})")
        table = {"metric": "internal.latest_metrics", "param": "internal.params", "tag": "internal.tags"}[field.kind]
        if field.kind == "metric":
            self.params.append(field.name)
            key_filter = "key_id = (SELECT key_id FROM internal.metric_keys WHERE key = ?)"
        else:
            self.params.append(field.name)
            key_filter = "key = ?"
        condition = self.operand(column, op, values)
        if field.kind == "metric" or column.startswith("TRY_CAST"):
            # DuckDB orders NaN above every number; a NaN metric should match no comparison.
            condition = f"NOT isnan({column}) AND {condition}"
        return f"r.run_key IN (SELECT run_key FROM {table} WHERE {key_filter} AND {condition})"

    def dataset_condition(self, field: Field, op: str, values: list[tuple[str, Any, int]]) -> str:
        column = DATASET_FIELDS.get(field.name.lower())
        if column is None:
            raise self.error(field.position, f"unknown dataset field {field.name!r}; datasets.<field> takes "
                             f"{', '.join(sorted(DATASET_FIELDS))}")
        if values[0][0] == "number":
            raise self.error(values[0][2], f"datasets.{field.name} is text; quote the value, e.g. "
                             f"datasets.{field.name} = '{_plain_number(values[0][1])}'")
        return f"r.run_key IN (SELECT run_key FROM internal.inputs WHERE {self.operand(column, op, values)})"

    def attribute_condition(self, field: Field, op: str, values: list[tuple[str, Any, int]], numeric: bool) -> str:
        name = field.name.lower()
        if name in TAG_ATTRIBUTES:
            return self.condition(Field("tag", TAG_ATTRIBUTES[name], field.position), op, values)
        column = ATTRIBUTES.get(name)
        if column is None:
            raise self.error(field.position,
                             f"unknown attribute {field.name!r}; attributes are "
                             f"{', '.join(sorted([*ATTRIBUTES, *TAG_ATTRIBUTES]))}. "
                             f"For a metric, param or tag write metrics.{field.name}, params.{field.name} or "
                             f"tags.{field.name}")
        if name in _NUMERIC_ATTRIBUTES:
            unit = "epoch milliseconds or an ISO date such as '2026-12-01 08:30'" if name in _TIME_ATTRIBUTES \
                else "seconds"
            if "LIKE" in op:
                raise self.error(field.position, f"{field.name} is a number ({unit}); compare it with "
                                 f"=, !=, <, <=, >, >= or IN, not {op}")
            if not numeric:
                if name not in _TIME_ATTRIBUTES:
                    raise self.error(values[0][2], f"{field.name} is a number ({unit}); compare it with a "
                                     f"number (no quotes), e.g. {field.name} > 60")
                values = [("number", self.epoch_ms(value, position), position) for _, value, position in values]
            return self.operand(column, op, values)
        if numeric:
            raise self.error(values[0][2], f"{field.name} is text; quote the value, e.g. "
                             f"{field.name} = '{_plain_number(values[0][1])}'")
        if name == "artifact_uri":
            self.params.append(self.artifact_root)
            column = "(? || r.run_id || '/artifacts')"
        return self.operand(column, op, values)

    def epoch_ms(self, text: str, position: int) -> float:
        """An ISO date or date-time (UTC unless it names an offset) as epoch milliseconds."""
        try:
            moment = datetime.fromisoformat(text.strip())
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=timezone.utc)
            return moment.timestamp() * 1000.0
        except (ValueError, OverflowError):
            raise self.error(position, f"{text!r} is not a date; times compare with an ISO date such as "
                             f"'2026-12-01' or '2026-12-01 08:30:00', or with epoch "
                             f"milliseconds (no quotes)") from None

    def operand(self, column: str, op: str, values: list[tuple[str, Any, int]]) -> str:
        self.params.extend(value for _, value, _ in values)
        if "IN" in op:
            return f"{column} {op} ({', '.join('?' for _ in values)})"
        return f"{column} {op} ?"


def _plain_number(value: float) -> str:
    return str(int(value)) if value.is_integer() and abs(value) < 1e16 else str(value)


def compile_filter(text: str | None, artifact_root: str = "") -> tuple[str, list[Any]]:
    """SQL condition over ``internal.runs r`` joined with ``internal.experiments e``, and its params.

    ``artifact_root`` is what a run's MLflow artifact URI starts with (see
    ``artifacts.mlflow_artifact_root``), for ``attributes.artifact_uri`` comparisons."""
    if text is None:
        return "TRUE", []
    if not isinstance(text, str):
        raise InvalidFilterError(f"filter must be a string like \"metrics.acc > 0.9\", not "
                                 f"{type(text).__name__} {text!r:.80}")
    if not text.strip():
        return "TRUE", []
    _check_text(text, "filter")
    parser = _Parser(text, artifact_root=artifact_root)
    return parser.parse(), parser.params


def filter_keys(text: str | None) -> list[Field]:
    """The metric, param and tag fields a (valid) filter names, in order: what ``search_runs``
    checks against the searched runs' keys to warn about a typo."""
    if not isinstance(text, str) or not text.strip():
        return []
    parser = _Parser(text)
    parser.parse()
    return parser.keys


@dataclass
class OrderKey:
    field: Field
    descending: bool


def parse_order_by(order_by: str | list[str] | None) -> list[OrderKey]:
    """``["metrics.acc DESC", "params.lr"]`` (or one comma-separated string) → order keys."""
    if order_by is None:
        return []
    if isinstance(order_by, str):
        items = [order_by]
    elif isinstance(order_by, (list, tuple)):
        items = list(order_by)
    else:
        raise InvalidFilterError(f"order_by must be a string like 'metrics.acc DESC' or a list of them, not "
                                 f"{type(order_by).__name__} {order_by!r:.80}")
    keys: list[OrderKey] = []
    for item in items:
        if not isinstance(item, str):
            raise InvalidFilterError(f"order_by items are strings like 'metrics.acc DESC', not {item!r:.80}")
        _check_text(item, "order_by")
        for part in item.split(","):
            if len(keys) >= MAX_ORDER_KEYS:
                raise InvalidFilterError(f"order_by has more than {MAX_ORDER_KEYS} keys; runs are ordered by "
                                         f"the first few keys only, so give at most {MAX_ORDER_KEYS}")
            parser = _Parser(part.strip(), "order_by")
            field = parser.field()
            descending = False
            if parser.is_word("asc", "desc"):
                descending = parser.take().text.lower() == "desc"
            if parser.token.kind != "end":
                raise parser.error(parser.token.position,
                                   "order_by takes a field and an optional ASC or DESC, e.g. 'metrics.acc DESC'")
            if field.kind == "dataset":
                raise parser.error(field.position, "runs cannot be ordered by a dataset field; filter on it instead")
            if field.kind == "attribute" and field.name.lower() not in ATTRIBUTES:
                raise parser.error(field.position, f"unknown attribute {field.name!r} in order_by")
            keys.append(OrderKey(field, descending))
    return keys
