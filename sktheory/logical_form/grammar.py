"""Typed logical forms: syntax tree, parser, printer, type checker and linear form.

A logical form (LF) is a tree of operators over entities, relations, types,
numbers and references to the previous turn. Every node has a *kind*:

``set``
    a set of entities (entity literals, ``prev_answer``, ``prev_entities`` and
    most operators);
``num``
    a non-negative integer (number literals and ``count``);
``bool``
    a truth value (``is_in``);
``counts``
    a map entity -> integer (``count_each``, ``count_each_reverse`` and their
    two-type forms ``count_each2``, ``count_each2_reverse``), consumed by
    superlatives and comparisons;
``pair``
    a two-part answer, in order (``pair_num``: two numbers, ``pair_bool``: two
    truth values), as CSQA's "Mult. entity type" questions have
    ("1 trade blocs and 2 social groups", "YES and NO respectively");
``rel`` and ``type``
    relation and type identifiers, only as operator arguments.

The operators (:data:`OPERATORS`) cover CSQA's question types:

============================  ===========================  ====================
operator                      arguments                    result
============================  ===========================  ====================
``find``                      set, rel                     set (objects)
``find_reverse``              set, rel                     set (subjects)
``filter``                    set, type                    set
``all``                       type                         set
``union`` ``inter`` ``diff``  set, set                     set
``count``                     set                          num
``is_in``                     set, set                     bool
``count_each``                set, rel, type               counts (out-degree)
``count_each_reverse``        set, rel, type               counts (in-degree)
``count_each2``               set, rel, type, type         counts (sum of both)
``count_each2_reverse``       set, rel, type, type         counts (sum of both)
``pair_num``                  num, num                     pair
``pair_bool``                 bool, bool                   pair
``argmax`` ``argmin``         counts                       set
``greater`` ``less``          counts, num                  set
``equal`` ``atleast``         counts, num                  set
``atmost`` ``approx``         counts, num                  set
============================  ===========================  ====================

The textual syntax (``logical_form.lark``) is parsed by lark; :func:`parse`
never evaluates its input. ``str(lf)`` prints a form and
``parse(str(lf)) == lf`` for every well-typed form.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # lark is imported on first parse, not with the package
    import lark

__all__ = [
    "KINDS",
    "OPERATORS",
    "REFERENCES",
    "Entity",
    "LogicalForm",
    "LogicalFormError",
    "LogicalFormSyntaxError",
    "LogicalFormTypeError",
    "Number",
    "Op",
    "PrefixState",
    "Reference",
    "Relation",
    "Signature",
    "Type",
    "check",
    "from_linear",
    "kind_of",
    "linearize",
    "parse",
    "size",
    "symbols",
]

#: Kinds a node can have.
KINDS = ("set", "num", "bool", "counts", "rel", "type", "pair")
#: Kinds a whole logical form may produce (the answer kinds of CSQA).
TOP_KINDS = ("set", "num", "bool", "pair")
#: Names of references to the previous turn, both of kind ``set``.
REFERENCES = ("prev_answer", "prev_entities")

_KIND_WORDS = {
    "set": "a set of entities",
    "num": "a number",
    "bool": "a boolean",
    "counts": "per-entity counts",
    "rel": "a relation",
    "type": "a type",
    "pair": "a two-part answer",
}


@dataclass(frozen=True)
class Signature:
    """Argument kinds and result kind of an operator.

    Attributes
    ----------
    args : tuple of str
        Kinds of the operator's arguments, in order.
    result : str
        Kind of the operator's result.
    """

    args: tuple[str, ...]
    result: str


_COMPARISONS = ("greater", "less", "equal", "atleast", "atmost", "approx")

#: Operator name -> :class:`Signature`.
OPERATORS: dict[str, Signature] = {
    "find": Signature(("set", "rel"), "set"),
    "find_reverse": Signature(("set", "rel"), "set"),
    "filter": Signature(("set", "type"), "set"),
    "all": Signature(("type",), "set"),
    "union": Signature(("set", "set"), "set"),
    "inter": Signature(("set", "set"), "set"),
    "diff": Signature(("set", "set"), "set"),
    "count": Signature(("set",), "num"),
    "is_in": Signature(("set", "set"), "bool"),
    "count_each": Signature(("set", "rel", "type"), "counts"),
    "count_each_reverse": Signature(("set", "rel", "type"), "counts"),
    # "Mult. entity type" questions: counts summed over two types.
    "count_each2": Signature(("set", "rel", "type", "type"), "counts"),
    "count_each2_reverse": Signature(("set", "rel", "type", "type"), "counts"),
    "argmax": Signature(("counts",), "set"),
    "argmin": Signature(("counts",), "set"),
    **{name: Signature(("counts", "num"), "set") for name in _COMPARISONS},
    # Two-part answers, only at the top of a form.
    "pair_num": Signature(("num", "num"), "pair"),
    "pair_bool": Signature(("bool", "bool"), "pair"),
}


class LogicalFormError(ValueError):
    """Base class of the errors about logical forms."""


class LogicalFormSyntaxError(LogicalFormError):
    """A logical-form string that does not follow the syntax."""


class LogicalFormTypeError(LogicalFormError):
    """A logical form whose operators get arguments of the wrong kind."""


# ----------------------------------------------------------------------------
# Syntax tree. Positions are kept for error messages but take no part in
# equality or hashing, so a parsed form equals the same form built by hand.


@dataclass(frozen=True)
class Entity:
    """An entity identifier; as a logical form, the set holding that entity.

    Attributes
    ----------
    id : str
        Entity identifier, such as ``Q1``.
    pos : tuple of (int, int) or None, default=None
        Line and column in the parsed text, for error messages; takes no part
        in equality or hashing.
    """

    id: str
    pos: tuple[int, int] | None = field(default=None, compare=False, repr=False)

    kind = "set"

    def __str__(self) -> str:
        return _format_id(self.id)


@dataclass(frozen=True)
class Relation:
    """A relation identifier (operator argument only).

    Attributes
    ----------
    id : str
        Relation identifier, such as ``P17``.
    pos : tuple of (int, int) or None, default=None
        Line and column in the parsed text, for error messages; takes no part
        in equality or hashing.
    """

    id: str
    pos: tuple[int, int] | None = field(default=None, compare=False, repr=False)

    kind = "rel"

    def __str__(self) -> str:
        return _format_id(self.id)


@dataclass(frozen=True)
class Type:
    """A type identifier (operator argument only).

    Attributes
    ----------
    id : str
        Type identifier, such as ``Q5``.
    pos : tuple of (int, int) or None, default=None
        Line and column in the parsed text, for error messages; takes no part
        in equality or hashing.
    """

    id: str
    pos: tuple[int, int] | None = field(default=None, compare=False, repr=False)

    kind = "type"

    def __str__(self) -> str:
        return _format_id(self.id)


@dataclass(frozen=True)
class Number:
    """A non-negative integer, usually read from the utterance.

    Attributes
    ----------
    value : int
        The number.
    pos : tuple of (int, int) or None, default=None
        Line and column in the parsed text, for error messages; takes no part
        in equality or hashing.
    """

    value: int
    pos: tuple[int, int] | None = field(default=None, compare=False, repr=False)

    kind = "num"

    def __str__(self) -> str:
        return str(self.value)


@dataclass(frozen=True)
class Reference:
    """A reference to the previous turn: ``prev_answer`` or ``prev_entities``.

    ``prev_answer`` is the set of entities of the previous system turn
    (``all_entities``); ``prev_entities`` the entities linked in the previous
    user turn (``entities_in_utterance``). Both are empty without a previous turn.

    Attributes
    ----------
    name : {"prev_answer", "prev_entities"}
        Which set of the previous turns it refers to.
    pos : tuple of (int, int) or None, default=None
        Line and column in the parsed text, for error messages; takes no part
        in equality or hashing.
    """

    name: str
    pos: tuple[int, int] | None = field(default=None, compare=False, repr=False)

    kind = "set"

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Op:
    """An operator applied to its arguments.

    Attributes
    ----------
    name : str
        Operator name, a key of :data:`OPERATORS`.
    args : tuple
        Argument nodes, one per argument kind of the operator's signature.
    pos : tuple of (int, int) or None, default=None
        Line and column in the parsed text, for error messages; takes no part
        in equality or hashing.
    """

    name: str
    args: tuple
    pos: tuple[int, int] | None = field(default=None, compare=False, repr=False)

    @property
    def kind(self) -> str:
        """Kind of the operator's result (``"?"`` for an unknown operator)."""
        sig = OPERATORS.get(self.name)
        return sig.result if sig is not None else "?"

    def __str__(self) -> str:
        return f"{self.name}({', '.join(str(a) for a in self.args)})"


LogicalForm = Op | Entity | Number | Reference
_LEAVES = (Entity, Relation, Type, Number, Reference)

_BARE_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def _format_id(identifier: str) -> str:
    # Quote anything the bare-identifier token would not read back verbatim,
    # including the reserved reference names.
    if _BARE_ID.match(identifier) and identifier not in REFERENCES:
        return identifier
    return json.dumps(identifier, ensure_ascii=False)


# ----------------------------------------------------------------------------
# Parsing


#: Deepest operator nesting :func:`parse` accepts; deeper text would exhaust
#: Python's recursion limit in the recursive tree code (CSQA forms nest < 10).
MAX_DEPTH = 100


@lru_cache(maxsize=1)
def _parser() -> lark.Lark:
    import lark

    text = resources.files(__package__).joinpath("logical_form.lark").read_text("utf-8")
    return lark.Lark(text, parser="lalr", propagate_positions=True, maybe_placeholders=False)


def _check_depth(text: str) -> None:
    """Refuse text nested deeper than :data:`MAX_DEPTH`, naming where."""
    if text.count("(") <= MAX_DEPTH:
        return
    depth, line, col, quoted, escaped = 0, 1, 0, False, False
    for char in text:
        col += 1
        if char == "\n":
            line, col = line + 1, 0
        if quoted:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                quoted = False
        elif char == '"':
            quoted = True
        elif char == "(":
            depth += 1
            if depth > MAX_DEPTH:
                raise LogicalFormSyntaxError(
                    f"malformed logical form at line {line}, column {col}: operators "
                    f"nested deeper than {MAX_DEPTH} levels"
                )
        elif char == ")":
            depth -= 1


def _where(pos, path) -> str:
    # "at line 1, column 7 (argument 2 of 'find', in argument 1 of 'count')"
    loc = f"line {pos[0]}, column {pos[1]}" if pos is not None else ""
    arg = ", in ".join(reversed(path))
    if loc and arg:
        return f"at {loc} ({arg})"
    if loc or arg:
        return f"at {loc or arg}"
    return "at the top"


def _expect_text(expected: tuple[str, ...]) -> str:
    return " or ".join(_KIND_WORDS[k] for k in expected)


def parse(text: str) -> LogicalForm:
    """Parse and type-check a logical form.

    Parameters
    ----------
    text : str
        The form in the textual syntax, e.g. ``"count(find(Q1, P17))"``.

    Returns
    -------
    LogicalForm
        The typed syntax tree; ``str`` of it prints the form back.

    Raises
    ------
    LogicalFormSyntaxError
        If the text does not follow the syntax (with line and column), or
        nests operators deeper than :data:`MAX_DEPTH` levels.
    LogicalFormTypeError
        If an operator is unknown, has the wrong number of arguments or gets an
        argument of the wrong kind (with line, column and argument position).

    Examples
    --------
    >>> from sktheory.logical_form import parse
    >>> lf = parse("count(filter(find(Q1, P17), Q6256))")
    >>> lf.kind, str(lf)
    ('num', 'count(filter(find(Q1, P17), Q6256))')
    """
    import lark

    if not isinstance(text, str):
        raise LogicalFormSyntaxError(f"a logical form must be a string, got {type(text).__name__}")
    _check_depth(text)
    try:
        tree = _parser().parse(text)
    except lark.exceptions.UnexpectedInput as exc:
        line, col = getattr(exc, "line", "?"), getattr(exc, "column", "?")
        token = getattr(exc, "token", None)
        if token is not None and getattr(token, "type", "") == "$END":
            # Point after the last character, where something is missing.
            lines = text.split("\n")
            line, col = len(lines), len(lines[-1]) + 1
            what = "unexpected end of input"
        elif token is not None:
            what = f"unexpected {str(token)!r}"
        else:
            char = getattr(exc, "char", None)
            what = f"unexpected character {char!r}" if char is not None else "invalid input"
        raise LogicalFormSyntaxError(
            f"malformed logical form at line {line}, column {col}: {what}\n"
            f"{exc.get_context(text).rstrip()}"
        ) from None
    return _build(tree.children[0], TOP_KINDS, ())


def _pos(tree) -> tuple[int, int] | None:
    import lark

    if isinstance(tree, lark.Token):
        return (tree.line, tree.column)
    meta = tree.meta
    return (meta.line, meta.column) if not meta.empty else None


def _build(tree, expected: tuple[str, ...], path: tuple[str, ...]):
    import lark

    pos = _pos(tree)
    if isinstance(tree, lark.Tree) and tree.data == "call":
        name_tok, *args = tree.children
        name = str(name_tok)
        sig = OPERATORS.get(name)
        if sig is None:
            raise LogicalFormTypeError(
                f"unknown operator {name!r} {_where(pos, path)}; "
                f"known operators: {', '.join(OPERATORS)}"
            )
        if sig.result not in expected:
            raise LogicalFormTypeError(
                f"expected {_expect_text(expected)} {_where(pos, path)}, "
                f"got {_KIND_WORDS[sig.result]} from {name!r}"
            )
        if len(args) != len(sig.args):
            raise LogicalFormTypeError(
                f"{name!r} takes {len(sig.args)} argument(s), got {len(args)} {_where(pos, path)}"
            )
        built = tuple(
            _build(arg, (kind,), (*path, f"argument {i + 1} of {name!r}"))
            for i, (arg, kind) in enumerate(zip(args, sig.args, strict=True))
        )
        return Op(name, built, pos)
    token = tree.children[0]
    if tree.data == "number":
        if "num" not in expected:
            raise LogicalFormTypeError(
                f"expected {_expect_text(expected)} {_where(pos, path)}, "
                f"got the number {str(token)}"
            )
        return Number(int(str(token)), pos)
    if tree.data == "quoted":
        try:
            identifier = json.loads(str(token))
        except json.JSONDecodeError as exc:
            raise LogicalFormSyntaxError(
                f"malformed quoted identifier {_where(pos, path)}: {exc.msg}"
            ) from None
        quoted = True
    else:
        identifier, quoted = str(token), False
    kind = expected[0] if len(expected) == 1 else "set"
    if not quoted and identifier in REFERENCES:
        if "set" not in expected:
            raise LogicalFormTypeError(
                f"expected {_expect_text(expected)} {_where(pos, path)}, "
                f"got the reference {identifier}"
            )
        return Reference(identifier, pos)
    if kind == "set" and "set" in expected:
        return Entity(identifier, pos)
    if kind == "rel":
        return Relation(identifier, pos)
    if kind == "type":
        return Type(identifier, pos)
    raise LogicalFormTypeError(
        f"expected {_expect_text(expected)} {_where(pos, path)}, "
        f"got the identifier {_format_id(identifier)}"
    )


# ----------------------------------------------------------------------------
# Checking forms built by hand


def kind_of(node) -> str:
    """Kind of a node (``set``, ``num``, ``bool``, ``counts``, ``rel``, ``type``)."""
    return node.kind


def check(lf, expected: tuple[str, ...] | str = TOP_KINDS) -> LogicalForm:
    """Type-check a logical form built in Python; return it unchanged.

    Parameters
    ----------
    lf : LogicalForm
        The form to check.
    expected : str or tuple of str, default=("set", "num", "bool", "pair")
        Kinds the whole form may have.

    Returns
    -------
    LogicalForm
        ``lf`` itself, once it type-checks.

    Raises
    ------
    LogicalFormTypeError
        Naming the argument position of the first fault.

    Examples
    --------
    >>> from sktheory.logical_form import Entity, Op, Relation, check
    >>> check(Op("count", (Op("find", (Entity("Q1"), Relation("P17"))),)))
    Op(name='count', args=(Op(name='find', args=(Entity(id='Q1'), Relation(id='P17'))),))
    """
    if isinstance(expected, str):
        expected = (expected,)
    _check(lf, tuple(expected), ())
    return lf


def _check(node, expected, path):
    pos = getattr(node, "pos", None)
    if isinstance(node, Op):
        sig = OPERATORS.get(node.name)
        if sig is None:
            raise LogicalFormTypeError(f"unknown operator {node.name!r} {_where(pos, path)}")
        if sig.result not in expected:
            raise LogicalFormTypeError(
                f"expected {_expect_text(expected)} {_where(pos, path)}, "
                f"got {_KIND_WORDS[sig.result]} from {node.name!r}"
            )
        if not isinstance(node.args, tuple) or len(node.args) != len(sig.args):
            n = len(node.args) if isinstance(node.args, (tuple, list)) else "?"
            raise LogicalFormTypeError(
                f"{node.name!r} takes {len(sig.args)} argument(s) as a tuple, got {n} "
                f"{_where(pos, path)}"
            )
        for i, (arg, kind) in enumerate(zip(node.args, sig.args, strict=True)):
            _check(arg, (kind,), (*path, f"argument {i + 1} of {node.name!r}"))
        return
    if not isinstance(node, _LEAVES):
        raise LogicalFormTypeError(
            f"not a logical-form node {_where(pos, path)}: {type(node).__name__}"
        )
    if node.kind not in expected:
        raise LogicalFormTypeError(
            f"expected {_expect_text(expected)} {_where(pos, path)}, got {type(node).__name__}"
        )
    if isinstance(node, Number):
        if isinstance(node.value, bool) or not isinstance(node.value, int) or node.value < 0:
            raise LogicalFormTypeError(
                f"numbers must be non-negative integers {_where(pos, path)}, got {node.value!r}"
            )
    elif isinstance(node, Reference):
        if node.name not in REFERENCES:
            raise LogicalFormTypeError(
                f"unknown reference {node.name!r} {_where(pos, path)}; "
                f"known: {', '.join(REFERENCES)}"
            )
    elif not isinstance(node.id, str) or not node.id:
        raise LogicalFormTypeError(
            f"identifiers must be non-empty strings {_where(pos, path)}, got {node.id!r}"
        )


# ----------------------------------------------------------------------------
# Sizes, symbols and the linear (prefix) form used by decoders


def size(lf) -> int:
    """Number of nodes of a form (the length ranked by the search).

    Parameters
    ----------
    lf : LogicalForm
        The form.

    Returns
    -------
    int
        Count of operators and leaves in the form.
    """
    if isinstance(lf, Op):
        return 1 + sum(size(a) for a in lf.args)
    return 1


def symbols(lf) -> dict[str, set]:
    """Identifiers used by a form, by category.

    Parameters
    ----------
    lf : LogicalForm
        The form.

    Returns
    -------
    dict of str to set
        ``{"entity": .., "relation": .., "type": .., "number": ..,
        "reference": ..}``: the entity, relation and type identifiers, the
        integers and the reference names that occur in the form.
    """
    out: dict[str, set] = {k: set() for k in ("entity", "relation", "type", "number", "reference")}

    def walk(node):
        if isinstance(node, Op):
            for a in node.args:
                walk(a)
        elif isinstance(node, Entity):
            out["entity"].add(node.id)
        elif isinstance(node, Relation):
            out["relation"].add(node.id)
        elif isinstance(node, Type):
            out["type"].add(node.id)
        elif isinstance(node, Number):
            out["number"].add(node.value)
        elif isinstance(node, Reference):
            out["reference"].add(node.name)

    walk(lf)
    return out


_LEAF_CATEGORY = {
    Entity: "entity",
    Relation: "relation",
    Type: "type",
    Number: "number",
    Reference: "ref",
}


def linearize(lf) -> list[tuple[str, str]]:
    """Prefix (Polish) token sequence of a form, as ``(category, value)`` pairs.

    Categories: ``"op"``, ``"entity"``, ``"relation"``, ``"type"``,
    ``"number"``, ``"ref"``. Since every operator has a fixed arity, no
    brackets are needed; :func:`from_linear` inverts it.

    Parameters
    ----------
    lf : LogicalForm
        The form.

    Returns
    -------
    list of tuple of (str, str)
        The form's tokens in prefix order; numbers are written as strings.

    Examples
    --------
    >>> from sktheory.logical_form import linearize, parse
    >>> linearize(parse("count(find(Q1, P17))"))
    [('op', 'count'), ('op', 'find'), ('entity', 'Q1'), ('relation', 'P17')]
    """
    out: list[tuple[str, str]] = []

    def walk(node):
        if isinstance(node, Op):
            out.append(("op", node.name))
            for a in node.args:
                walk(a)
        elif isinstance(node, Number):
            out.append(("number", str(node.value)))
        elif isinstance(node, Reference):
            out.append(("ref", node.name))
        else:
            out.append((_LEAF_CATEGORY[type(node)], node.id))

    walk(lf)
    return out


class PrefixState:
    """Incremental type state of a prefix token sequence, for constrained decoding.

    At each step :attr:`expected` is the kind the next token must produce
    (``None`` once the form is complete); :meth:`allowed` lists the token
    categories and operators that fit; :meth:`push` consumes one token and
    raises :class:`LogicalFormTypeError` if it does not fit.

    Parameters
    ----------
    top : tuple of str, default=("set", "num", "bool", "pair")
        Kinds the whole form may have.

    Examples
    --------
    >>> from sktheory.logical_form import PrefixState
    >>> state = PrefixState()
    >>> state.push(("op", "count"))
    >>> state.expected
    'set'
    >>> sorted(state.allowed()["categories"])
    ['entity', 'ref']
    """

    def __init__(self, top: tuple[str, ...] = TOP_KINDS):
        self._stack: list[tuple[str, ...]] = [tuple(top)]
        self.n_tokens = 0

    @property
    def done(self) -> bool:
        """Whether the tokens pushed so far form a complete logical form."""
        return not self._stack

    @property
    def expected(self) -> str | None:
        """Kind expected next (the first if several are allowed), or None."""
        return self._stack[-1][0] if self._stack else None

    @property
    def expected_kinds(self) -> tuple[str, ...]:
        """All kinds allowed for the next token (empty when done)."""
        return self._stack[-1] if self._stack else ()

    def allowed(self) -> dict[str, list[str]]:
        """Leaf categories and operator names allowed next.

        Returns
        -------
        dict of str to list of str
            ``{"categories": [...], "ops": [...]}``: the leaf token categories
            and the operator names whose result fits the expected kind (both
            empty when the form is complete).
        """
        kinds = self.expected_kinds
        cats = []
        if "set" in kinds:
            cats += ["entity", "ref"]
        if "num" in kinds:
            cats.append("number")
        if "rel" in kinds:
            cats.append("relation")
        if "type" in kinds:
            cats.append("type")
        ops = [name for name, sig in OPERATORS.items() if sig.result in kinds]
        return {"categories": cats, "ops": ops}

    def push(self, token: tuple[str, str]) -> None:
        """Consume one ``(category, value)`` token.

        Parameters
        ----------
        token : tuple of (str, str)
            A token as :func:`linearize` writes it.

        Raises
        ------
        LogicalFormTypeError
            If the token does not fit the expected kind, or the form is
            already complete.
        """
        if not self._stack:
            raise LogicalFormTypeError("the logical form is already complete")
        category, value = token
        kinds = self._stack[-1]
        where = f"at token {self.n_tokens + 1}"
        if category == "op":
            sig = OPERATORS.get(value)
            if sig is None:
                raise LogicalFormTypeError(f"unknown operator {value!r} {where}")
            if sig.result not in kinds:
                raise LogicalFormTypeError(f"expected {_expect_text(kinds)} {where}, got {value!r}")
            self._stack.pop()
            self._stack.extend((k,) for k in reversed(sig.args))
        else:
            need = {"entity": "set", "ref": "set", "number": "num"}.get(category, category)
            if category not in ("entity", "ref", "number", "relation", "type"):
                raise LogicalFormTypeError(f"unknown token category {category!r} {where}")
            need = {"relation": "rel"}.get(category, need)
            if need not in kinds:
                raise LogicalFormTypeError(
                    f"expected {_expect_text(kinds)} {where}, got a {category} token"
                )
            if category == "number" and not (isinstance(value, str) and value.isdigit()):
                raise LogicalFormTypeError(f"malformed number {value!r} {where}")
            if category == "ref" and value not in REFERENCES:
                raise LogicalFormTypeError(f"unknown reference {value!r} {where}")
            self._stack.pop()
        self.n_tokens += 1


def from_linear(tokens) -> LogicalForm:
    """Build a form from its prefix tokens (the inverse of :func:`linearize`).

    Parameters
    ----------
    tokens : iterable of tuple of (str, str)
        Tokens in prefix order, as :func:`linearize` writes them.

    Returns
    -------
    LogicalForm
        The type-checked form.

    Raises
    ------
    LogicalFormTypeError
        If the sequence is ill-typed, too short or too long.
    """
    tokens = list(tokens)
    state = PrefixState()
    for tok in tokens:
        state.push(tuple(tok))
    if not state.done:
        raise LogicalFormTypeError(
            f"incomplete logical form: {_expect_text(state.expected_kinds)} "
            f"expected after token {len(tokens)}"
        )
    it = iter(tokens)

    def build():
        category, value = next(it)
        if category == "op":
            sig = OPERATORS[value]
            return Op(value, tuple(build() for _ in sig.args))
        if category == "entity":
            return Entity(value)
        if category == "relation":
            return Relation(value)
        if category == "type":
            return Type(value)
        if category == "number":
            return Number(int(value))
        return Reference(value)

    return check(build())
