"""Compile logical forms to SPARQL and run them with rdflib.

Every set-valued node compiles to a sub-select projecting one variable, so
sub-queries never share internal variables; per-entity counts compile to a
grouped sub-select with an ``OPTIONAL`` pattern so that entities with a count
of 0 are kept, as in the in-memory executor. The rules of
:mod:`sktheory.logical_form.executor` hold for both paths; identifiers are
not checked against the graph here (an entity literal denotes itself), so
check unknown identifiers with a :class:`KnowledgeGraph` first when that
matters.

rdflib is an optional dependency (``pip install rdflib``); it is imported
only when a query is run.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping

from .executor import previous_refs, to_answer
from .grammar import Entity, Number, Op, Reference, check, parse

__all__ = ["SparqlExecutor", "to_sparql"]

_RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
_NOTHING = "urn:sktheory:no-such-predicate"

_TESTS = {
    "greater": "?{c} > ?{n}",
    "less": "?{c} < ?{n}",
    "equal": "?{c} = ?{n}",
    "atleast": "?{c} >= ?{n}",
    "atmost": "?{c} <= ?{n}",
    # |c - n| <= max(1, n // 10), in integers: |c - n| <= 1 or 10 |c - n| <= n.
    "approx": "(ABS(?{c} - ?{n}) <= 1 || 10 * ABS(?{c} - ?{n}) <= ?{n})",
}


class _Compiler:
    def __init__(self, namespace: str, type_predicate: str, refs: dict):
        self.ns = namespace
        self.type_p = self._iri_text(type_predicate)
        self.refs = refs
        self._ids = itertools.count()

    def var(self, stem: str) -> str:
        return f"{stem}{next(self._ids)}"

    @staticmethod
    def _iri_text(text: str) -> str:
        bad = set('<>"{}|^`\\ ') & set(text)
        if bad or any(ord(ch) <= 0x20 for ch in text):
            raise ValueError(f"identifier {text!r} cannot be written as a SPARQL IRI")
        return f"<{text}>"

    def iri(self, identifier: str) -> str:
        return self._iri_text(self.ns + identifier)

    # Set-valued nodes: a group pattern binding ?v to each entity.
    def set_pattern(self, node, v: str) -> str:
        # Literal sets are VALUES inside a sub-select: rdflib mis-joins a bare
        # VALUES group with a following OPTIONAL, and ignores FILTER(false) in
        # a group without triples (hence a pattern no triple matches).
        if isinstance(node, Entity):
            return f"{{ SELECT ?{v} WHERE {{ VALUES ?{v} {{ {self.iri(node.id)} }} }} }}"
        if isinstance(node, Reference):
            ids = sorted(self.refs[node.name])
            if not ids:
                return f"?{v} <{_NOTHING}> ?{v} ."
            listed = " ".join(self.iri(i) for i in ids)
            return f"{{ SELECT ?{v} WHERE {{ VALUES ?{v} {{ {listed} }} }} }}"
        name, args = node.name, node.args
        if name in ("find", "find_reverse"):
            a = self.var("a")
            inner = self.set_pattern(args[0], a)
            rel = self.iri(args[1].id)
            triple = f"?{a} {rel} ?{v} ." if name == "find" else f"?{v} {rel} ?{a} ."
            body = f"{{ {inner} }} {triple}"
        elif name == "filter":
            inner = self.set_pattern(args[0], v)
            body = f"{{ {inner} }} ?{v} {self.type_p} {self.iri(args[1].id)} ."
        elif name == "all":
            body = f"?{v} {self.type_p} {self.iri(args[0].id)} ."
        elif name == "union":
            left, right = self.set_pattern(args[0], v), self.set_pattern(args[1], v)
            body = f"{{ {left} }} UNION {{ {right} }}"
        elif name == "inter":
            body = f"{{ {self.set_pattern(args[0], v)} }} {{ {self.set_pattern(args[1], v)} }}"
        elif name == "diff":
            left, right = self.set_pattern(args[0], v), self.set_pattern(args[1], v)
            body = f"{{ {left} }} MINUS {{ {right} }}"
        elif name in ("argmax", "argmin"):
            c, v2, c2, m = self.var("c"), self.var("w"), self.var("c"), self.var("m")
            agg = "MAX" if name == "argmax" else "MIN"
            again = self.counts_pattern(args[0], v2, c2)
            body = (
                f"{self.counts_pattern(args[0], v, c)} "
                f"{{ SELECT ({agg}(?{c2}) AS ?{m}) WHERE {{ {again} }} }} "
                f"FILTER(?{c} = ?{m})"
            )
        elif name in _TESTS:
            c, n = self.var("c"), self.var("n")
            test = _TESTS[name].format(c=c, n=n)
            body = (
                f"{self.counts_pattern(args[0], v, c)} {self.num_pattern(args[1], n)} "
                f"FILTER({test})"
            )
        else:  # pragma: no cover - check() rejects other kinds first
            raise ValueError(f"operator {name!r} does not produce a set")
        return f"{{ SELECT DISTINCT ?{v} WHERE {{ {body} }} }}"

    def counts_pattern(self, node: Op, v: str, c: str) -> str:
        if node.name in ("count_each2", "count_each2_reverse"):
            # The sum of the two one-type counts, joined on the entity (both
            # keep every entity of the set, with 0 where nothing matches).
            forward = node.name == "count_each2"
            ca, cb = self.var("c"), self.var("c")
            left = self._one_type(node.args[0], node.args[1], node.args[2], forward, v, ca)
            right = self._one_type(node.args[0], node.args[1], node.args[3], forward, v, cb)
            return f"{{ SELECT ?{v} ((?{ca} + ?{cb}) AS ?{c}) WHERE {{ {left} {right} }} }}"
        forward = node.name == "count_each"
        return self._one_type(node.args[0], node.args[1], node.args[2], forward, v, c)

    def _one_type(self, set_node, rel_node, type_node, forward: bool, v: str, c: str) -> str:
        o = self.var("o")
        rel, t = self.iri(rel_node.id), self.iri(type_node.id)
        triple = f"?{v} {rel} ?{o} ." if forward else f"?{o} {rel} ?{v} ."
        return (
            f"{{ SELECT ?{v} (COUNT(DISTINCT ?{o}) AS ?{c}) WHERE {{ "
            f"{{ {self.set_pattern(set_node, v)} }} "
            f"OPTIONAL {{ {triple} ?{o} {self.type_p} {t} . }} }} GROUP BY ?{v} }}"
        )

    def num_pattern(self, node, n: str) -> str:
        if isinstance(node, Number):
            return f"BIND({node.value} AS ?{n})"
        x = self.var("x")
        return (
            f"{{ SELECT (COUNT(DISTINCT ?{x}) AS ?{n}) WHERE {{ "
            f"{self.set_pattern(node.args[0], x)} }} }}"
        )

    def bool_pattern(self, lf: Op, b: str) -> str:
        a, d = lf.args
        x, y, na, nd = self.var("x"), self.var("y"), self.var("na"), self.var("nd")
        return (
            f"{{ SELECT ((?{na} > 0 && ?{nd} = 0) AS ?{b}) WHERE {{ "
            f"{{ SELECT (COUNT(DISTINCT ?{x}) AS ?{na}) WHERE {{ "
            f"{self.set_pattern(a, x)} }} }} "
            f"{{ SELECT (COUNT(DISTINCT ?{y}) AS ?{nd}) WHERE {{ "
            f"{{ {self.set_pattern(a, y)} }} MINUS {{ {self.set_pattern(d, y)} }} }} }} }} }}"
        )

    def query(self, lf) -> tuple[str, str]:
        kind = lf.kind
        if kind == "set":
            return "set", f"SELECT DISTINCT ?v WHERE {{ {self.set_pattern(lf, 'v')} }}"
        if kind == "num":
            return "num", f"SELECT ?n WHERE {{ {self.num_pattern(lf, 'n')} }}"
        if kind == "bool":
            return "bool", f"SELECT ?b WHERE {{ {self.bool_pattern(lf, 'b')} }}"
        # A two-part answer: one row with one column per part.
        parts = []
        for node, out in zip(lf.args, ("p0", "p1"), strict=True):
            if node.kind == "num":
                parts.append(f"{{ {self.num_pattern(node, out)} }}")
            else:
                parts.append(self.bool_pattern(node, out))
        return f"pair_{lf.args[0].kind}", f"SELECT ?p0 ?p1 WHERE {{ {' '.join(parts)} }}"


def to_sparql(
    lf,
    turn: Mapping | None = None,
    *,
    namespace: str = "http://sktheory.example/",
    type_predicate: str = _RDF_TYPE,
) -> str:
    """SPARQL query text computing a logical form's answer.

    Parameters
    ----------
    lf : str or LogicalForm
        The form, as text (parsed and type-checked) or as a tree.
    turn : dict, optional
        The turn; ``prev_answer`` and ``prev_entities`` become ``VALUES``.
    namespace : str
        Prefix turning identifiers into IRIs (as in
        :meth:`KnowledgeGraph.to_rdflib`; ``""`` when identifiers are IRIs).
    type_predicate : str
        IRI of the typing predicate.

    Returns
    -------
    str
        A ``SELECT`` query whose rows give the answer: the entities of a set,
        one count or truth value, or one row with both parts of a two-part
        answer.

    Examples
    --------
    >>> from sktheory.logical_form import to_sparql
    >>> print(to_sparql("find(Q1, P17)", namespace="http://x/"))  # doctest: +ELLIPSIS
    SELECT DISTINCT ?v WHERE { { SELECT DISTINCT ?v WHERE { ... <http://x/P17> ?v . } } }
    """
    lf = parse(lf) if isinstance(lf, str) else check(lf)
    return _Compiler(namespace, type_predicate, previous_refs(turn)).query(lf)[1]


class SparqlExecutor:
    """Runs logical forms on an :class:`rdflib.Graph` through SPARQL.

    Parameters
    ----------
    graph : rdflib.Graph
        The graph the forms run on, as :meth:`KnowledgeGraph.to_rdflib` builds
        it.
    namespace : str, default="http://sktheory.example/"
        Prefix of the graph's IRIs (see :meth:`KnowledgeGraph.to_rdflib`); IRIs
        of answers are stripped of it.
    type_predicate : str, default=rdf:type
        IRI of the typing predicate.

    Examples
    --------
    >>> from sktheory.logical_form import KnowledgeGraph, SparqlExecutor
    >>> kg = KnowledgeGraph([("Q1", "P17", "Q2"), ("Q3", "P17", "Q2")])
    >>> SparqlExecutor(kg.to_rdflib()).execute("count(find_reverse(Q2, P17))")
    2
    """

    def __init__(
        self,
        graph,
        *,
        namespace: str = "http://sktheory.example/",
        type_predicate: str = _RDF_TYPE,
    ):
        self.graph = graph
        self.namespace = namespace
        self.type_predicate = type_predicate

    def compile(self, lf, turn: Mapping | None = None) -> tuple[str, str]:
        """Kind of the answer and the SPARQL text.

        Parameters
        ----------
        lf : str or LogicalForm
            The form, as text (parsed and type-checked) or as a tree.
        turn : dict, optional
            The turn; ``prev_answer`` and ``prev_entities`` become ``VALUES``.

        Returns
        -------
        kind : {"set", "num", "bool", "pair_num", "pair_bool"}
            How to read the query's rows.
        text : str
            The SPARQL query.
        """
        lf = parse(lf) if isinstance(lf, str) else check(lf)
        comp = _Compiler(self.namespace, self.type_predicate, previous_refs(turn))
        return comp.query(lf)

    def execute(self, lf, turn: Mapping | None = None):
        """Run a form.

        Parameters
        ----------
        lf : str or LogicalForm
            The form.
        turn : dict, optional
            The turn, for ``prev_answer`` and ``prev_entities``.

        Returns
        -------
        list of str, int, bool or list
            A sorted list of ids, an int, a bool, or a two-part answer as a
            list of two ints or two bools.
        """
        kind, text = self.compile(lf, turn)
        rows = list(self.graph.query(text))
        if kind == "set":
            out = set()
            for (term,) in rows:
                value = str(term)
                if self.namespace and value.startswith(self.namespace):
                    value = value[len(self.namespace) :]
                out.add(value)
            return to_answer(out)
        if kind.startswith("pair_"):
            part = kind[len("pair_") :]
            row = rows[0] if rows else (None, None)
            return [_scalar(term, part) for term in row]
        return _scalar(rows[0][0] if rows else None, kind)


def _scalar(term, kind: str):
    """A number or truth value from one result term (0 / False when unbound)."""
    if term is None:
        return 0 if kind == "num" else False
    value = term.toPython()
    return int(value) if kind == "num" else bool(value)
