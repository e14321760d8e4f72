"""Which executions a run depends on: the names each kernel execution defines and reads, and a run's slice.

Every cell execution (tracked or not) is recorded by the IPython extension's post-run hook as its
execution count, cell id and source, with the names it defines and reads taken from the tree IPython
itself parsed to run the cell (an ``ast_transformers`` entry keeps it; no second parse, no
``transform_cell``): one pass of a few µs for a typical cell, under 1 ms for 200 lines, and a dict
lookup for a cell run again (analyses are cached by source). An execution recorded without a tree
(outside IPython) is parsed lazily, the first time a slice is asked for. Reads resolve, in execution
order, to the execution that defined the name *at that time*. Memory is bounded: beyond
``ExecutionLog.limit`` executions, the oldest ones no current definition (directly or through a kept
execution's reads) refers to are dropped; trees are never kept.

The analysis is static (``ast``), so it sees assignments, imports, ``def``/``class``, augmented
assignment, ``for``/``with`` targets, ``del``, item/attribute assignment and calls of mutating methods
(``model.fit(...)``, ``rows.append(...)``, ``inplace=True``); it cannot see names made by ``exec``,
``%run``, magics or import side effects, and records that those constructs ran.
"""

from __future__ import annotations

import ast
import builtins
import re
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

#: Method names whose call is taken to change the object it is called on (``model.fit(X, y)``).
_MUTATING = re.compile(r"^(fit\w*|partial_fit|append|extend|update|insert|remove|pop\w*|clear|sort|reverse|add|"
                       r"discard|setdefault|set_\w+|load_state_dict|train|compile|step|backward|zero_grad|reset\w*|"
                       r"apply_|to|cuda|eval|requires_grad_)$")
#: Random draws of numpy, random, torch, tensorflow, jax (the last part of a dotted call).
_TORCH_DRAWS = {"rand", "randn", "randint", "randperm", "normal", "bernoulli", "multinomial", "rand_like",
                "randn_like", "randint_like", "poisson"}
_SEED_CALLS = {"seed", "manual_seed", "manual_seed_all", "set_seed", "seed_everything", "set_random_seed"}
_GENERATORS = {"default_rng", "RandomState", "Generator", "PCG64", "MT19937", "Random"}
#: Calls whose first argument names a data file the slice reads (not captured by the tracker).
_READERS = re.compile(r"^(open|read_\w+|load|loadtxt|genfromtxt|fromfile|load_dataset|imread)$")
#: Names IPython keeps for itself (``_``, ``_3``, ``_i3``, ``In``, ``Out``…): never a dependency.
_IPYTHON_NAMES = re.compile(r"^(_+\d*|_i+\d*|_[iod]h|In|Out|get_ipython|exit|quit|__\w+__)$")
_BUILTINS = frozenset(dir(builtins))
#: Every call name ``_Analysis.call`` acts on but ``read_…``: a call ``f(…)`` or ``x.f(…)`` whose ``f`` is none
#: of them (and whose ``x`` is not one of ``_DRAW_MODULES``) needs no further look.
_CALL_WORDS = frozenset({*_SEED_CALLS, *_GENERATORS, "exec", "eval", "run_line_magic", "run_cell_magic", "open", "load",
                         "loadtxt", "genfromtxt", "fromfile", "load_dataset", "imread"})
_DRAW_MODULES = frozenset({"random", "torch"})


@dataclass(frozen=True)
class CellNames:
    """What one cell's code defines and reads, as far as ``ast`` can tell."""

    defines: frozenset[str]
    reads: frozenset[str]
    rng_calls: tuple[str, ...] = ()      # random draws without a seed, e.g. "np.random.rand"
    seeds: bool = False                  # the cell calls a seed function or makes a seeded generator
    hidden: tuple[str, ...] = ()         # constructs that may define names invisibly: exec, %run, import *
    data_files: tuple[str, ...] = ()     # literal paths given to open()/read_csv()/load…
    syntax_error: bool = False


def _dotted(node: ast.AST) -> str | None:
    """``np.random.rand`` for an attribute chain rooted at a name, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


#: Fields that never hold a node (or hold only nodes no analysis looks at: contexts, operators, aliases).
_SCALAR_FIELDS = frozenset({"ctx", "op", "id", "attr", "arg", "name", "names", "asname", "module", "level", "kind",
                            "type_comment", "conversion", "is_async", "simple", "tag", "rest", "kwd_attrs"})
_CHILD_FIELDS: dict[type, tuple[str, ...]] = {ast.Constant: ()}


def _walk(node: ast.AST) -> list[ast.AST]:
    """Every node under ``node`` in ``ast.walk``'s order (breadth first), about three times faster: the
    fields to follow are looked up once per node type, and contexts/operators are not visited. The list
    may hold ``None`` and ``str`` items (``Dict.keys``, ``kw_defaults``); callers test node types."""
    nodes: list = [node]
    for current in nodes:  # the list grows while it is read: breadth first, as ast.walk
        kind = type(current)
        names = _CHILD_FIELDS.get(kind)
        if names is None:
            names = _CHILD_FIELDS[kind] = tuple(f for f in getattr(kind, "_fields", ()) if f not in _SCALAR_FIELDS)
        for name in names:
            value = getattr(current, name, None)
            if type(value) is list:
                nodes.extend(value)
            elif isinstance(value, ast.AST):
                nodes.append(value)
    return nodes


def _base_name(node: ast.AST) -> str | None:
    """The variable an item/attribute target changes: ``df`` for ``df["a"]`` or ``df.a.b``."""
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Starred)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


class _Analysis:
    """One pass over a cell's statements, in order (so a read after a definition in the same cell is local)."""

    def __init__(self) -> None:
        self.defines: set[str] = set()
        self.reads: set[str] = set()
        self.rng: list[str] = []
        self.seeds = False
        self.hidden: list[str] = []
        self.files: list[str] = []
        self.deferred: set[str] = set()   # globals read by function bodies

    # -- expressions --
    def read(self, node: ast.AST | None, local: frozenset[str] | set[str] = frozenset(), *,
             _name: type = ast.Name, _load: type = ast.Load, _constant: type = ast.Constant,
             _attribute: type = ast.Attribute, _call: type = ast.Call, _binop: type = ast.BinOp,
             _keyword: type = ast.keyword, _subscript: type = ast.Subscript) -> None:
        """Names an expression (or a function body) loads that are not defined before it in this cell.

        This runs for every node of every new cell, so it is one loop over an explicit stack with the
        commonest node types handled inline (bound as defaults: a call sets nothing up), and a name or
        constant operand taken where it is found instead of being pushed: a ``Name`` directly under a
        ``BinOp``, ``Call``, ``Attribute`` or ``Subscript`` is always a load. Names stored anywhere in
        the expression (comprehension variables, lambda arguments, ``:=``) are not reads."""
        if node is None:
            return
        loaded: list[str] = []
        stored: set[str] = set()
        stack: list = [node]
        pop, push, extend, load = stack.pop, stack.append, stack.extend, loaded.append
        while stack:
            child = pop()
            kind = type(child)
            if kind is _binop:
                operand = child.left
                if type(operand) is _name:
                    load(operand.id)
                elif type(operand) is not _constant:
                    push(operand)
                operand = child.right
                if type(operand) is _name:
                    load(operand.id)
                elif type(operand) is not _constant:
                    push(operand)
            elif kind is _call:
                func = child.func
                # Most calls (len(x), model.fit(X)) are no draw, seed, exec or reader: a set lookup says so.
                if type(func) is _name:
                    load(func.id)
                    if func.id in _CALL_WORDS or "read_" in func.id:
                        self.call(child)
                else:
                    if type(func) is not _attribute or type(func.value) is not _name or func.attr in _CALL_WORDS \
                            or func.value.id in _DRAW_MODULES or "read_" in func.attr:
                        self.call(child)
                    push(func)
                for operand in child.args:
                    if type(operand) is _name:
                        load(operand.id)
                    elif type(operand) is not _constant:
                        push(operand)
                if child.keywords:
                    extend(child.keywords)
            elif kind is _name:
                if type(child.ctx) is _load:
                    load(child.id)
                else:
                    stored.add(child.id)
            elif kind is _attribute:
                operand = child.value
                if type(operand) is _name:
                    load(operand.id)
                else:
                    push(operand)
            elif kind is _subscript:
                operand = child.value
                if type(operand) is _name:
                    load(operand.id)
                else:
                    push(operand)
                operand = child.slice
                if type(operand) is _name:
                    load(operand.id)
                elif type(operand) is not _constant:
                    push(operand)
            elif kind is _keyword:
                push(child.value)
            elif kind is not _constant:
                if kind is ast.arg:
                    stored.add(child.arg)
                names = _CHILD_FIELDS.get(kind)
                if names is None:
                    names = _CHILD_FIELDS[kind] = tuple(f for f in getattr(kind, "_fields", ())
                                                        if f not in _SCALAR_FIELDS)
                for name in names:
                    value = getattr(child, name, None)
                    if type(value) is list:
                        extend(value)
                    elif isinstance(value, ast.AST):
                        push(value)
        if loaded:
            defines, reads = self.defines, self.reads
            for name in loaded:
                if name not in defines and name not in stored and name not in local:
                    reads.add(name)

    def call(self, node: ast.Call) -> None:
        """Note a call that draws random numbers, seeds, runs exec/eval or a magic, or reads a data file
        (``read`` only calls it for those whose name may be one of them)."""
        func = node.func
        if type(func) is ast.Name:
            last = dotted = func.id
        elif type(func) is ast.Attribute:
            last, dotted = func.attr, _dotted(func) or ""
        else:
            return
        if last in _SEED_CALLS or (last in _GENERATORS and (node.args or node.keywords)):
            self.seeds = True
        elif last in _GENERATORS or (".random." in f".{dotted}" and last not in _GENERATORS) or \
                (dotted.startswith("torch.") and last in _TORCH_DRAWS):
            self.rng.append(dotted)
        if last in ("exec", "eval") and dotted == last:
            self.hidden.append(f"{last}()")
        elif last in ("run_line_magic", "run_cell_magic") and node.args and isinstance(node.args[0], ast.Constant):
            magic = str(node.args[0].value)
            if magic not in ("load_ext", "track", "tracker", "matplotlib", "time", "timeit", "config"):
                self.hidden.append(("%%" if last == "run_cell_magic" else "%") + magic)
        if _READERS.match(last) and node.args and isinstance(node.args[0], ast.Constant) and \
                isinstance(node.args[0].value, str) and len(node.args[0].value) < 500:
            self.files.append(node.args[0].value)

    # -- targets --
    def target(self, node: ast.AST, augmented: bool = False) -> None:
        if isinstance(node, ast.Name):
            if augmented and node.id not in self.defines:
                self.reads.add(node.id)
            self.defines.add(node.id)
        elif isinstance(node, (ast.Tuple, ast.List)):
            for element in node.elts:
                self.target(element)
        elif isinstance(node, ast.Starred):
            self.target(node.value)
        else:  # df["a"] = …, model.coef_ = …: reads df and changes it
            base = _base_name(node)
            self.read(node)
            if base is not None:
                if base not in self.defines:
                    self.reads.add(base)
                self.defines.add(base)

    # -- statements --
    def statements(self, body: list[ast.stmt]) -> None:
        read, defines = self.read, self.defines
        for statement in body:
            if type(statement) is ast.Assign:  # most statements: `name = expression`, handled here
                read(statement.value)
                for target in statement.targets:
                    if type(target) is ast.Name:
                        defines.add(target.id)
                    else:
                        self.target(target)
            else:
                self.statement(statement)

    def statement(self, node: ast.stmt) -> None:
        if isinstance(node, ast.Assign):
            self.read(node.value)
            for target in node.targets:
                self.target(target)
        elif isinstance(node, ast.AnnAssign):
            self.read(node.value)
            self.target(node.target)
        elif isinstance(node, ast.AugAssign):
            self.read(node.value)
            self.target(node.target, augmented=True)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                self.defines.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if alias.name == "*":
                    self.hidden.append(f"from {node.module} import *")
                else:
                    self.defines.add(alias.asname or alias.name)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            self.definition(node)
        elif isinstance(node, (ast.For, ast.AsyncFor)):
            self.read(node.iter)
            self.target(node.target)
            self.statements(node.body)
            self.statements(node.orelse)
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                self.read(item.context_expr)
                if item.optional_vars is not None:
                    self.target(item.optional_vars)
            self.statements(node.body)
        elif isinstance(node, ast.Delete):
            for target in node.targets:
                self.target(target)
        elif isinstance(node, (ast.If, ast.While)):
            self.read(node.test)
            self.statements(node.body)
            self.statements(node.orelse)
        elif isinstance(node, ast.Try) or type(node).__name__ == "TryStar":
            self.statements(node.body)  # type: ignore[attr-defined]
            for handler in node.handlers:  # type: ignore[attr-defined]
                self.read(handler.type)
                if handler.name:
                    self.defines.add(handler.name)
                self.statements(handler.body)
            self.statements(node.orelse)  # type: ignore[attr-defined]
            self.statements(node.finalbody)  # type: ignore[attr-defined]
        elif isinstance(node, ast.Expr):
            self.read(node.value)
            self.mutation(node.value)
        elif isinstance(node, ast.Global):
            self.defines.update(node.names)
        else:  # return, raise, assert, match, pass…: whatever it loads is read
            self.read(node)

    def mutation(self, value: ast.expr) -> None:
        """``model.fit(X)`` / ``df.drop(columns=c, inplace=True)`` change ``model`` / ``df``."""
        if not isinstance(value, ast.Call) or not isinstance(value.func, ast.Attribute):
            return
        inplace = any(k.arg == "inplace" and isinstance(k.value, ast.Constant) and k.value.value is True
                      for k in value.keywords)
        if inplace or _MUTATING.match(value.func.attr):
            base = _base_name(value.func.value)
            if base is not None and base not in _BUILTINS:
                if base not in self.defines:
                    self.reads.add(base)
                self.defines.add(base)

    def definition(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> None:
        for decorator in node.decorator_list:
            self.read(decorator)
        if isinstance(node, ast.ClassDef):
            for base in [*node.bases, *(k.value for k in node.keywords)]:
                self.read(base)
        else:
            for default in [*node.args.defaults, *(d for d in node.args.kw_defaults if d is not None)]:
                self.read(default)
        # The body runs later, but the globals it uses are what the definition depends on.
        local: set[str] = {node.name}
        for child in _walk(node):
            if isinstance(child, ast.Name) and isinstance(child.ctx, ast.Store):
                local.add(child.id)
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and child is not node:
                local.add(child.name)
            elif isinstance(child, ast.Global):
                self.defines.update(child.names)
                local.difference_update(child.names)
            elif isinstance(child, (ast.Import, ast.ImportFrom)):
                local.update((a.asname or a.name).split(".")[0] for a in child.names)
            elif isinstance(child, ast.ExceptHandler) and child.name:
                local.add(child.name)
            elif isinstance(child, ast.arg):
                local.add(child.arg)
        # The body runs when called, so a global it uses may be defined further down the cell.
        before = set(self.reads)
        for statement in node.body:
            self.read(statement, local)
        self.deferred.update(self.reads - before)
        self.reads = before
        self.defines.add(node.name)


def analyze(python: str) -> CellNames:
    """The names the Python code of a cell defines and reads."""
    try:
        tree = ast.parse(python)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return CellNames(frozenset(), frozenset(), syntax_error=True)
    return _names(tree)


def _names(tree: ast.Module) -> CellNames:
    analysis = _Analysis()
    analysis.statements(tree.body)
    reads = frozenset(n for n in analysis.reads | (analysis.deferred - analysis.defines) if not _IPYTHON_NAMES.match(n))
    return CellNames(frozenset(analysis.defines), reads, tuple(dict.fromkeys(analysis.rng)), analysis.seeds,
                     tuple(dict.fromkeys(analysis.hidden)), tuple(dict.fromkeys(analysis.files)))


def names_of_tree(source: str, tree: ast.Module) -> CellNames:
    """The names of a cell from the tree IPython parsed to run it (its magics already turned into
    calls), cached by the cell's source as ``names_of`` is."""
    cached = _analyses.get(source)
    if cached is not None:
        _analyses.move_to_end(source)
        return cached
    try:
        names = _names(tree)
    except RecursionError:
        names = CellNames(frozenset(), frozenset(), syntax_error=True)
    _remember(source, names)
    return names


def _remember(source: str, names: CellNames) -> None:
    _analyses[source] = names
    if len(_analyses) > _ANALYSES_KEPT:
        _analyses.popitem(last=False)


def names_of(source: str, to_python: Callable[[str], str]) -> CellNames:
    """The names of a cell as typed (IPython syntax allowed), cached by source: a cell run again costs a
    dict lookup. Plain Python is parsed as is; only cells that are not (magics, ``!cmd``) go through
    ``to_python`` (IPython's ``transform_cell``, which is much slower than parsing)."""
    cached = _analyses.get(source)
    if cached is not None:
        _analyses.move_to_end(source)
        return cached
    try:
        names = _names(ast.parse(source))
    except (SyntaxError, ValueError):
        try:
            python = to_python(source)
        except Exception:  # noqa: BLE001 - IPython's transformers raise many kinds on odd input
            python = ""
        names = analyze(python)
    except (MemoryError, RecursionError):
        names = CellNames(frozenset(), frozenset(), syntax_error=True)
    _remember(source, names)
    return names


_analyses: OrderedDict[str, CellNames] = OrderedDict()
_ANALYSES_KEPT = 4096


@dataclass
class Execution:
    """One execution of the kernel: what ran, and (once analysed) where each name it read came from."""

    count: int
    cell_id: str | None
    source: str
    failed: bool = False
    names: CellNames | None = None
    #: name read → execution count that had last defined it when this execution ran
    depends: dict[str, int] = field(default_factory=dict)
    #: names read that no recorded execution had defined (builtins excluded)
    undefined: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        names = self.names or CellNames(frozenset(), frozenset())
        return {"execution_count": self.count, "cell_id": self.cell_id, "source": self.source,
                "failed": self.failed, "defines": sorted(names.defines), "depends": dict(sorted(self.depends.items())),
                "undefined": list(self.undefined), "rng_calls": list(names.rng_calls), "seeds": names.seeds,
                "hidden": list(names.hidden), "data_files": list(names.data_files)}


class ExecutionLog:
    """The executions of this kernel session, in order, and the definitions they made."""

    def __init__(self, limit: int = 5000) -> None:
        self.limit = limit
        self.executions: OrderedDict[int, Execution] = OrderedDict()
        self._pending: list[Execution] = []
        #: name → the execution that defined it last (among analysed executions)
        self.definer: dict[str, int] = {}
        self._references: dict[int, int] = {}
        self.forgotten = 0

    def record(self, count: int, cell_id: str | None, source: str, failed: bool = False,
               tree: ast.Module | None = None) -> None:
        """Note an execution (the post-run hook). With ``tree`` (what IPython parsed to run it) its names
        are taken now, in one pass; without, the source is parsed when a slice is first needed."""
        if count in self.executions:
            return
        execution = Execution(count, cell_id, source, failed, names_of_tree(source, tree) if tree is not None else None)
        self.executions[count] = execution
        self._pending.append(execution)
        if len(self.executions) > self.limit:
            self._forget()

    def analyse(self, to_python: Callable[[str], str]) -> None:
        """Work out the pending executions' names, in order (``to_python`` turns IPython syntax into Python)."""
        pending, self._pending = self._pending, []
        for execution in pending:
            if execution.count not in self.executions:
                continue
            names = execution.names or names_of(execution.source, to_python)
            execution.names = names
            undefined = []
            for name in names.reads:
                definer = self.definer.get(name)
                if definer is not None:
                    execution.depends[name] = definer
                    self._references[definer] = self._references.get(definer, 0) + 1
                elif name not in _BUILTINS:
                    undefined.append(name)
            execution.undefined = tuple(sorted(undefined))
            for name in names.defines:
                previous = self.definer.get(name)
                if previous is not None:
                    self._release(previous)
                self.definer[name] = execution.count
                self._references[execution.count] = self._references.get(execution.count, 0) + 1

    def _release(self, count: int) -> None:
        self._references[count] = self._references.get(count, 1) - 1

    def _forget(self) -> None:
        """Drop the oldest executions nothing refers to any more (analysing first, so references are known)."""
        from .source import ipython_shell

        shell = ipython_shell()
        self.analyse(shell.transform_cell if shell is not None else (lambda code: code))
        excess = len(self.executions) - self.limit
        for count in list(self.executions):
            if excess <= 0:
                break
            if self._references.get(count, 0) <= 0:
                self._drop(count)
                excess -= 1
        # Still above twice the limit (everything referenced): drop the oldest anyway; slices then say so.
        while len(self.executions) > 2 * self.limit:
            self._drop(next(iter(self.executions)))

    def _drop(self, count: int) -> None:
        execution = self.executions.pop(count)
        self._references.pop(count, None)
        self.forgotten += 1
        for definer in execution.depends.values():
            self._release(definer)
        for name in (execution.names.defines if execution.names else ()):
            if self.definer.get(name) == count:
                del self.definer[name]

    def slice(self, counts: int | Sequence[int], to_python: Callable[[str], str]) -> tuple[list[Execution], list[int]]:
        """The executions ``counts`` depend on, themselves included, in execution order; and the counts
        they depend on that were forgotten. ``counts`` is one execution (a ``%%track`` cell) or every
        execution made while a run was active (a run started in one cell and ended in another): the
        slice is the union of their dependencies. Seed calls made before the last of them come along
        when the slice draws random numbers (they define no name, but the result depends on them)."""
        roots = [counts] if isinstance(counts, int) else list(counts)
        self.analyse(to_python)
        wanted: set[int] = set()
        missing: set[int] = set()
        stack = list(roots)
        while stack:
            current = stack.pop()
            if current in wanted:
                continue
            execution = self.executions.get(current)
            if execution is None:
                missing.add(current)
                continue
            wanted.add(current)
            stack.extend(execution.depends.values())
        last = max(roots)
        if any(e.names.rng_calls for c in wanted if (e := self.executions[c]).names is not None):
            seeds = [c for c, e in self.executions.items()
                     if c < last and e.names is not None and e.names.seeds and c not in wanted]
            if seeds:
                stack = [seeds[-1]]
                while stack:
                    current = stack.pop()
                    if current in wanted or current not in self.executions:
                        continue
                    wanted.add(current)
                    stack.extend(self.executions[current].depends.values())
        return [self.executions[c] for c in sorted(wanted)], sorted(missing)

    def between(self, first: int, last: int) -> list[int]:
        """The recorded executions from ``first`` to ``last`` (both included): what ran while a run
        started in execution ``first`` and ended in ``last`` was active."""
        return [c for c in self.executions if first <= c <= last]

    def hidden_before(self, count: int) -> list[Execution]:
        """Executions before ``count`` that ran code able to define names invisibly (exec, %run, import *)."""
        return [e for c, e in self.executions.items() if c < count and e.names and e.names.hidden]


#: The executions of this process's kernel (filled by the IPython extension's post-run hook).
session_log = ExecutionLog()


class CellTrees:
    """Keeps the tree IPython parsed for each running cell, so slices take a cell's names without parsing
    it again. It wraps the shell compiler's ``ast_parse`` rather than joining ``ast_transformers``: with
    any transformer registered, IPython runs ``ast.fix_missing_locations`` over every cell (tens of ms
    for 200 lines). One slot per running cell (pre-run pushes, post-run pops), so a cell run from inside
    another keeps its own; the slot takes the first tree parsed, the cell's (not a ``%timeit``'s)."""

    def __init__(self) -> None:
        self.slots: list = []

    def install(self, shell) -> None:
        compiler = shell.compile
        parse = compiler.ast_parse
        if getattr(parse, "_jupyter_tracker", False):
            return

        def ast_parse(source, filename="<unknown>", symbol="exec"):
            tree = parse(source, filename, symbol)
            if self.slots and self.slots[-1] is None:
                self.slots[-1] = tree
            return tree

        ast_parse._jupyter_tracker = True  # type: ignore[attr-defined]
        compiler.ast_parse = ast_parse

    def uninstall(self, shell) -> None:
        if getattr(shell.compile.__dict__.get("ast_parse"), "_jupyter_tracker", False):
            del shell.compile.ast_parse

    def push(self) -> None:
        self.slots.append(None)

    def pop(self):
        return self.slots.pop() if self.slots else None

    def current(self):
        """The tree of the cell running now (None outside a cell, or before it was parsed)."""
        return self.slots[-1] if self.slots else None


#: Trees of the cells running now (installed by the IPython extension).
cell_trees = CellTrees()
