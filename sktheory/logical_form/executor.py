"""Run logical forms on an in-memory :class:`KnowledgeGraph`.

Execution rules (the SPARQL path in :mod:`.sparql` follows the same ones):

- ``find(S, r)`` is the union of the ``r``-objects of the entities of ``S``;
  ``find_reverse(S, r)`` the union of their ``r``-subjects. An entity without
  such triples contributes nothing, so intermediate results may be empty and
  emptiness simply propagates: every set operator on empty sets gives the set
  algebra's answer, ``count`` of an empty set is 0, ``argmax``/``argmin`` of
  empty counts are empty, ``is_in`` with an empty first argument is False.
- ``filter(S, t)`` keeps the entities of ``S`` having type ``t`` (an entity may
  have several types); ``all(t)`` is every entity of type ``t``.
- ``is_in(A, B)`` is True iff ``A`` is non-empty and every entity of ``A`` is
  in ``B`` (membership for a single entity, inclusion for several).
- ``count_each(S, r, t)`` maps every entity ``e`` of ``S`` to the number of
  ``r``-objects of ``e`` that have type ``t``; ``count_each_reverse`` counts
  ``r``-subjects. Entities with a count of 0 are kept.
- ``count_each2(S, r, t1, t2)`` (CSQA's "Mult. entity type" questions: "the
  max number of rivers and lakes") maps ``e`` to the *sum* of its
  ``count_each`` counts into ``t1`` and into ``t2``: an object having both
  types counts twice (in CSQA every entity has one type, so the sum is the
  number of objects of either type); likewise ``count_each2_reverse``.
- ``pair_num(a, b)`` and ``pair_bool(a, b)`` give the two-part answer
  ``[a, b]`` in order ("1 trade blocs and 2 social groups" is
  ``pair_num(count(..), count(..))`` = ``[1, 2]``).
- ``argmax``/``argmin`` keep every entity whose count equals the maximum /
  minimum (ties are all kept). ``greater``, ``less``, ``equal``, ``atleast``,
  ``atmost`` compare each count ``c`` with ``n`` by ``>``, ``<``, ``==``,
  ``>=``, ``<=``; ``approx`` keeps ``|c - n| <= max(1, n // 10)``.
- ``prev_answer`` is the previous system turn's ``all_entities``,
  ``prev_entities`` the previous user turn's ``entities_in_utterance``; both
  are empty when the turn has no ``"previous"`` entry. Previous answers that
  were numbers or booleans have no entities, so ``prev_answer`` is empty then.
- Well-typedness is checked before running (:func:`.grammar.check`), so no
  intermediate result has the wrong kind. Identifiers unknown to the graph
  raise :class:`UnknownSymbolError` with ``strict=True`` (the default) and
  denote the empty set (unknown entity) or contribute nothing (unknown relation
  or type) with ``strict=False``.

A set answer is returned as a sorted list of entity ids, a number as ``int``,
a truth value as ``bool`` (the three answer shapes of CSQA), a two-part answer
as a list of two ints or two bools in order.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping

from .grammar import (
    Entity,
    LogicalFormError,
    Number,
    Op,
    Reference,
    check,
    parse,
    symbols,
)
from .kg import KnowledgeGraph, UnknownSymbolError

__all__ = ["Executor", "answers_equal", "execute", "previous_refs", "to_answer"]


def approx_equal(c: int, n: int) -> bool:
    """The ``approx`` comparison: ``|c - n| <= max(1, n // 10)``."""
    return abs(c - n) <= max(1, n // 10)


_COMPARE = {
    "greater": lambda c, n: c > n,
    "less": lambda c, n: c < n,
    "equal": lambda c, n: c == n,
    "atleast": lambda c, n: c >= n,
    "atmost": lambda c, n: c <= n,
    "approx": approx_equal,
}


def previous_refs(turn: Mapping | None) -> dict[str, frozenset[str]]:
    """Values of ``prev_answer`` and ``prev_entities`` for a turn dict.

    Parameters
    ----------
    turn : dict or None
        A turn; its ``"previous"`` entry, if any, holds the previous
        ``"system"`` and ``"user"`` turns.

    Returns
    -------
    dict of str to frozenset of str
        ``{"prev_answer": .., "prev_entities": ..}``: the previous system
        turn's ``all_entities`` and the previous user turn's
        ``entities_in_utterance`` (both empty without a previous turn).

    Raises
    ------
    TypeError
        If the turn or its previous turn is not a dict.
    """
    empty = {"prev_answer": frozenset(), "prev_entities": frozenset()}
    if turn is None:
        return empty
    if not isinstance(turn, Mapping):
        raise TypeError(f"a turn must be a dict, got {type(turn).__name__}")
    prev = turn.get("previous")
    if not prev:
        return empty
    if not isinstance(prev, Mapping):
        raise TypeError(f"turn['previous'] must be a dict, got {type(prev).__name__}")
    system = prev.get("system") or {}
    user = prev.get("user") or {}
    return {
        "prev_answer": frozenset(_id_list(system.get("all_entities"), "all_entities")),
        "prev_entities": frozenset(
            _id_list(user.get("entities_in_utterance"), "entities_in_utterance")
        ),
    }


def _id_list(value, name):
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise TypeError(f"previous turn's {name} must be a list of ids, got {value!r}")
    return [v for v in value if isinstance(v, str)]


def to_answer(value):
    """Convert an execution result to an answer.

    Parameters
    ----------
    value : frozenset, int, bool or tuple
        A raw result of :meth:`Executor.evaluate` for a top-level form.

    Returns
    -------
    list of str, int, bool or list
        Sorted entity ids, a count, a truth value, or the two parts of a
        two-part answer as a list in order.
    """
    if isinstance(value, (bool, int)):
        return value
    if isinstance(value, tuple):
        return list(value)
    return sorted(value)


def _is_parts(x) -> bool:
    return (
        isinstance(x, (list, tuple)) and len(x) > 0 and all(isinstance(e, (bool, int)) for e in x)
    )


def answers_equal(a, b) -> bool:
    """Whether two answers are equal.

    Entity lists are compared as sets, two-part answers (lists of ints or of
    bools) element by element in order, and a bool never equals an int.

    Parameters
    ----------
    a, b : list, int or bool
        Answers as :func:`to_answer` gives them.

    Returns
    -------
    bool
        Whether they are the same answer.

    Examples
    --------
    >>> from sktheory.logical_form import answers_equal
    >>> answers_equal(["Q1", "Q2"], ["Q2", "Q1"]), answers_equal([1, 2], [2, 1])
    (True, False)
    """
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int) or isinstance(b, int):
        return isinstance(a, int) and isinstance(b, int) and a == b
    if _is_parts(a) or _is_parts(b):
        return (
            _is_parts(a)
            and _is_parts(b)
            and len(a) == len(b)
            and all(answers_equal(x, y) for x, y in zip(a, b, strict=True))
        )
    try:
        return set(a) == set(b)
    except TypeError:
        return False


class Executor:
    """Runs logical forms on one graph, caching results that do not depend on
    the turn.

    Parameters
    ----------
    kg : KnowledgeGraph
        The graph the forms run on.
    strict : bool, default=True
        Raise :class:`UnknownSymbolError` for identifiers unknown to the graph;
        with False they denote empty results (see the module's rules).
    cache_size : int, default=10000
        Number of turn-independent sub-results kept (least recently used
        first out); 0 disables the cache.

    Examples
    --------
    >>> from sktheory.logical_form import Executor, KnowledgeGraph
    >>> kg = KnowledgeGraph([("Q1", "P17", "Q2"), ("Q3", "P17", "Q2")])
    >>> Executor(kg).execute("count(find_reverse(Q2, P17))")
    2
    """

    def __init__(self, kg: KnowledgeGraph, *, strict: bool = True, cache_size: int = 10000):
        if not isinstance(kg, KnowledgeGraph):
            raise TypeError(f"kg must be a KnowledgeGraph, got {type(kg).__name__}")
        self.kg = kg
        self.strict = strict
        self.cache_size = int(cache_size)
        self._cache: OrderedDict = OrderedDict()
        self._has_ref: dict = {}

    def execute(self, lf, turn: Mapping | None = None):
        """Run a form (text or tree) and return the answer (list, int or bool).

        Parameters
        ----------
        lf : str or LogicalForm
            The form, as text (parsed and type-checked; never evaluated as
            code) or as a tree.
        turn : dict, optional
            The turn, for ``prev_answer`` and ``prev_entities``.

        Returns
        -------
        list of str, int, bool or list
            Sorted entity ids, a count, a truth value, or the two parts of a
            two-part answer as a list in order.

        Raises
        ------
        LogicalFormError
            For a malformed or ill-typed form.
        UnknownSymbolError
            For identifiers the graph does not know (``strict=True``).
        """
        lf = parse(lf) if isinstance(lf, str) else check(lf)
        if self.strict:
            self._check_symbols(lf)
        refs = previous_refs(turn)
        return to_answer(self._eval(lf, refs))

    def evaluate(self, node, turn: Mapping | None = None):
        """Raw value of any node, including non-top-level kinds such as counts.

        Parameters
        ----------
        node : LogicalForm or Op
            A type-checked node of kind ``set``, ``num``, ``bool``, ``counts``
            or ``pair``.
        turn : dict, optional
            The turn, for ``prev_answer`` and ``prev_entities``.

        Returns
        -------
        frozenset, int, bool, dict or tuple
            A set of entity ids, a count, a truth value, a dict entity ->
            count, or a tuple of two ints or bools (a two-part answer).
        """
        check(node, ("set", "num", "bool", "counts", "pair"))
        if self.strict:
            self._check_symbols(node)
        return self._eval(node, previous_refs(turn))

    def _check_symbols(self, lf) -> None:
        used = symbols(lf)
        for category in ("entity", "relation", "type"):
            for identifier in sorted(used[category]):
                self.kg.check_symbol(category, identifier)

    def _depends_on_turn(self, node) -> bool:
        hit = self._has_ref.get(node)
        if hit is None:
            if isinstance(node, Reference):
                hit = True
            elif isinstance(node, Op):
                hit = any(self._depends_on_turn(a) for a in node.args)
            else:
                hit = False
            if len(self._has_ref) < 100000:
                self._has_ref[node] = hit
        return hit

    def _eval(self, node, refs):
        if isinstance(node, Entity):
            if node.id in self.kg.entities:
                return frozenset((node.id,))
            return frozenset()
        if isinstance(node, Number):
            return node.value
        if isinstance(node, Reference):
            return refs[node.name]
        cacheable = self.cache_size > 0 and not self._depends_on_turn(node)
        if cacheable:
            hit = self._cache.get(node)
            if hit is not None:
                self._cache.move_to_end(node)
                return hit
        value = self._apply(node, refs)
        if cacheable:
            self._cache[node] = value
            if len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return value

    def _apply(self, node: Op, refs):
        kg, name, args = self.kg, node.name, node.args
        if name in ("find", "find_reverse"):
            s, rel = self._eval(args[0], refs), args[1].id
            look = kg.objects if name == "find" else kg.subjects
            out: set[str] = set()
            for e in s:
                out.update(look(e, rel))
            return frozenset(out)
        if name == "filter":
            s, t = self._eval(args[0], refs), args[1].id
            members = kg.members(t)
            return frozenset(e for e in s if e in members)
        if name == "all":
            return frozenset(kg.members(args[0].id))
        if name in ("union", "inter", "diff"):
            a, b = self._eval(args[0], refs), self._eval(args[1], refs)
            return a | b if name == "union" else (a & b if name == "inter" else a - b)
        if name == "count":
            return len(self._eval(args[0], refs))
        if name == "is_in":
            a, b = self._eval(args[0], refs), self._eval(args[1], refs)
            return bool(a) and a <= b
        if name in ("count_each", "count_each_reverse"):
            s, rel, t = self._eval(args[0], refs), args[1].id, args[2].id
            look = kg.objects if name == "count_each" else kg.subjects
            members = kg.members(t)
            return {e: len(look(e, rel) & members) for e in s}
        if name in ("count_each2", "count_each2_reverse"):
            s, rel = self._eval(args[0], refs), args[1].id
            look = kg.objects if name == "count_each2" else kg.subjects
            m1, m2 = kg.members(args[2].id), kg.members(args[3].id)
            out = {}
            for e in s:
                near = look(e, rel)
                out[e] = len(near & m1) + len(near & m2)
            return out
        if name in ("pair_num", "pair_bool"):
            return (self._eval(args[0], refs), self._eval(args[1], refs))
        if name in ("argmax", "argmin"):
            counts = self._eval(args[0], refs)
            if not counts:
                return frozenset()
            best = max(counts.values()) if name == "argmax" else min(counts.values())
            return frozenset(e for e, c in counts.items() if c == best)
        if name in _COMPARE:
            counts, n = self._eval(args[0], refs), self._eval(args[1], refs)
            test = _COMPARE[name]
            return frozenset(e for e, c in counts.items() if test(c, n))
        raise LogicalFormError(f"no rule to execute operator {name!r}")  # pragma: no cover


def execute(lf, kg: KnowledgeGraph, turn: Mapping | None = None, *, strict: bool = True):
    """Run a logical form on a graph; see the module's rules.

    Parameters
    ----------
    lf : str or LogicalForm
        The form, as text (parsed and type-checked; never evaluated as code)
        or as a tree.
    kg : KnowledgeGraph
        The graph the form runs on.
    turn : dict, optional
        The turn, for ``prev_answer`` and ``prev_entities``.
    strict : bool, default=True
        Raise for identifiers unknown to the graph.

    Returns
    -------
    list of str, int or bool
        Sorted entity ids, a count, or a truth value.

    Examples
    --------
    >>> from sktheory.logical_form import KnowledgeGraph, execute
    >>> kg = KnowledgeGraph([("Q1", "P17", "Q2")], entity_types={"Q2": "Q6256"})
    >>> execute("filter(find(Q1, P17), Q6256)", kg)
    ['Q2']
    >>> execute("is_in(Q2, find(prev_answer, P17))", kg,
    ...         {"previous": {"system": {"all_entities": ["Q1"]}}})
    True
    """
    return Executor(kg, strict=strict, cache_size=0).execute(lf, turn)


__all__ += ["UnknownSymbolError", "approx_equal"]
