"""Weak supervision: find logical forms whose execution equals a gold answer.

The search is bottom-up over the grammar, restricted to the symbols of the
turn, and bounded as D2A's searches are, but goal-directed:

1. *Candidates.* Entities linked in the turn and in the previous user turn,
   the references ``prev_answer`` and ``prev_entities`` (when non-empty),
   relations and types of the turn and of the previous user turn, and the
   integers written in the utterance. Identifiers unknown to the graph are
   dropped (and listed in :attr:`SearchResult.unknown`).
2. *Sets.* One hop (``find``/``find_reverse`` of a candidate), optionally a
   second hop, each optionally type-filtered, then at most one set operator
   (``union``/``inter``/``diff``) over one-hop sets, optionally filtered.
   Empty sets are pruned; sets with the same value share one pool entry
   holding at most ``max_alternatives`` expressions (the shortest first, as
   the representative later stages build on, then those using the most
   symbols of the turn), and compositions are computed from the children's
   values (sub-results are never recomputed). For entity answers, set
   operators combine every one-hop set (also equal-valued ones) and are
   pruned by the answer: ``union`` needs both sides inside it, ``inter``
   both sides around it, ``diff`` its left side around it; every set form
   equal to the answer is kept, not only a pool entry's alternatives.
3. *Per-entity counts.* ``count_each``/``count_each_reverse`` of ``all(t1)``
   by a candidate relation and type ``t2``, in both directions; kept in a
   cache shared by every search on the same graph. Superlatives
   (``argmax``/``argmin``) and the six comparisons against a number of the
   utterance or the ``count`` of a candidate set. When no form yet uses every
   symbol of the turn, the same over counts summed over two target types
   (``count_each2``, CSQA's "Mult. entity type"; pairs among the first four
   candidate types), also against an entity's count over both types
   (``count(union(filter(X, t1), filter(X, t2)))``).
4. *Answers.* Entity answers match set-valued forms; counts match ``count``
   of a set (including of a superlative or comparison); truth values match
   ``is_in(candidate entity or reference, one- or two-hop set)``. Two-part
   answers (lists of two counts or two truth values, as :func:`read_csqa`
   keeps them) match ``pair_num(count(A), count(B))`` over simple sets (the
   eight best-ranked sets of each size) and ``pair_bool(is_in(a, S), is_in(b,
   S))`` for two different candidate entities tested against the same set,
   neither of them an anchor of that set.

Stages 2 (set operators) and 3 (counts) are skipped once an earlier stage has
found a form that uses every symbol of the turn, since they only build larger
forms.

Consistent forms are ranked: fewer unused symbols of the current turn (its
entities, relations, types and numbers) first, then fewer nodes, then
alphabetically; ``prefer_linked=False`` ranks by size alone. The first
``max_results`` are re-executed with :class:`Executor` before being returned.

Each search has a node budget (``max_nodes`` sets built), so that the same
turn gives the same forms whatever the machine's load; a wall-clock
``time_budget`` is only an outer safety net. A search that runs out of either
returns the forms found so far (status ``"found"``) or none (status
``"timeout"``). A search that
finishes without a form has status ``"not_found"``; a malformed turn or
answer gives status ``"error"`` with the reason in :attr:`SearchResult.message`.
Nothing is raised, so batches never stop on one bad row.
"""

from __future__ import annotations

import math
import re
import statistics
import time
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .csqa import QUESTION_TYPES, validate_turn
from .executor import _COMPARE, Executor, answers_equal, previous_refs
from .grammar import Entity, Number, Op, Reference, Relation, Type, size, symbols
from .kg import KnowledgeGraph

__all__ = [
    "CoverageReport",
    "CANDIDATE_MODES",
    "SymbolRanker",
    "candidate_symbols",
    "SearchResult",
    "Searcher",
    "coverage_report",
    "search",
    "search_many",
]

_INT = re.compile(r"(?<![\w.])\d+(?![\w.])")


@dataclass
class SearchResult:
    """Consistent logical forms for one turn, best first, and how the search went.

    Behaves as the sequence of its forms (``len``, iteration, indexing,
    truthiness).

    Attributes
    ----------
    forms : list of LogicalForm
        Forms whose execution equals the answer, best first.
    status : {"found", "not_found", "timeout", "error"}
        How the search ended: forms found, none consistent within the search
        space, a budget ran out, or the turn or answer was malformed.
    elapsed_ms : float
        Wall-clock time of the search.
    n_candidates : int
        Number of candidate expressions built.
    question_type : str or None
        The turn's ``"question-type"``, if it has one.
    unknown : list of str
        Identifiers of the turn that the graph does not know (ignored).
    message : str
        Why nothing was found, or the error.
    """

    forms: list = field(default_factory=list)
    status: str = "not_found"
    elapsed_ms: float = 0.0
    n_candidates: int = 0
    question_type: str | None = None
    unknown: list = field(default_factory=list)
    message: str = ""

    @property
    def found(self) -> bool:
        """Whether at least one consistent form was found."""
        return bool(self.forms)

    @property
    def best(self):
        """The best form, or None."""
        return self.forms[0] if self.forms else None

    def __len__(self) -> int:
        return len(self.forms)

    def __iter__(self):
        return iter(self.forms)

    def __getitem__(self, i):
        return self.forms[i]

    def __bool__(self) -> bool:
        return bool(self.forms)


class _Budget(Exception):
    pass


class Searcher:
    """Weak-supervision search over one graph, with caches shared across turns.

    Parameters
    ----------
    kg : KnowledgeGraph
        The graph the forms run on.
    time_budget : float, default=30.0
        Seconds allowed per turn: an outer safety net only (a search stopped
        by it depends on the machine's load).
    max_nodes : int, default=20_000
        Sets built per turn (the deterministic budget).
    max_results : int, default=5
        Number of consistent forms returned.
    max_hops : {1, 2}, default=2
        Relation hops from a candidate entity.
    max_alternatives : int, default=2
        Expressions kept per distinct intermediate value.
    prefer_linked : bool, default=True
        Rank forms using more of the turn's symbols first (see the module).
    max_set_size : int, default=2000
        Intermediate sets larger than this are pruned.
    candidates : {"gold", "graph"}, default="gold"
        Where relation and type candidates come from (see
        :func:`candidate_symbols`): the turn's gold annotations (an oracle;
        the default of this offline tool) or the graph around the linked
        entities, which never reads them.
    ranker : SymbolRanker, optional
        Learned relation/type choice added to ``"graph"`` candidates.

    Examples
    --------
    >>> from sktheory.logical_form import KnowledgeGraph, Searcher
    >>> kg = KnowledgeGraph([("Q1", "P17", "Q2")], entity_types={"Q2": "Q6256"})
    >>> turn = {"utterance": "Which country is Q1 in?", "entities_in_utterance": ["Q1"],
    ...         "relations": ["P17"], "type_list": ["Q6256"]}
    >>> str(Searcher(kg).search(turn, ["Q2"]).best)
    'filter(find(Q1, P17), Q6256)'
    """

    def __init__(
        self,
        kg: KnowledgeGraph,
        *,
        time_budget: float = 30.0,
        max_nodes: int = 20_000,
        max_results: int = 5,
        max_hops: int = 2,
        max_alternatives: int = 2,
        prefer_linked: bool = True,
        max_set_size: int = 2000,
        candidates: str = "gold",
        ranker: SymbolRanker | None = None,
    ):
        if not isinstance(kg, KnowledgeGraph):
            raise TypeError(f"kg must be a KnowledgeGraph, got {type(kg).__name__}")
        if not time_budget > 0:
            raise ValueError(f"time_budget must be positive, got {time_budget!r}")
        if max_hops not in (1, 2):
            raise ValueError(f"max_hops must be 1 or 2, got {max_hops!r}")
        for name, v in (
            ("max_nodes", max_nodes),
            ("max_results", max_results),
            ("max_alternatives", max_alternatives),
        ):
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        self.kg = kg
        self.time_budget = float(time_budget)
        self.max_nodes = max_nodes
        self.max_results = max_results
        self.max_hops = max_hops
        self.max_alternatives = max_alternatives
        self.prefer_linked = prefer_linked
        self.max_set_size = max_set_size
        if candidates not in CANDIDATE_MODES:
            raise ValueError(f"candidates must be one of {CANDIDATE_MODES}, got {candidates!r}")
        self.candidates = candidates
        self.ranker = ranker
        self._counts_cache: dict = {}
        self._executor = Executor(kg, strict=False, cache_size=20000)

    # ------------------------------------------------------------------ public
    def search(self, turn: Mapping, answer) -> SearchResult:
        """Consistent forms for one turn and its gold answer; never raises.

        Parameters
        ----------
        turn : dict
            A self-contained turn (CSQA user turn plus ``"previous"``).
        answer : list of str, int, bool or list of two ints or two bools
            The gold answer (a two-part answer in the order the system gives
            it).

        Returns
        -------
        SearchResult
            The consistent forms, best first, with the search's status (status
            ``"error"`` for a bad turn or answer).
        """
        start = time.perf_counter()
        qtype = turn.get("question-type") if isinstance(turn, Mapping) else None
        result = SearchResult(question_type=qtype if isinstance(qtype, str) else None)
        try:
            validate_turn(turn)
            kind, gold = _answer_kind(answer)
            refs = previous_refs(turn)
            state = _State(self, turn, kind, gold, refs, start)
            result.unknown = state.unknown
            try:
                state.run()
            except _Budget:
                state.timed_out = True
            result.n_candidates = state.n_built
            forms = self._rank(state)
            result.forms = self._verify(forms, turn, answer)
            if result.forms:
                result.status = "found"
            elif state.timed_out:
                result.status = "timeout"
                result.message = (
                    f"node budget of {self.max_nodes} sets ran out"
                    if state.n_built >= self.max_nodes
                    else f"time budget of {self.time_budget:g} s ran out"
                )
            else:
                result.status = "not_found"
                result.message = state.why_not()
        except Exception as exc:  # one bad row must not stop a batch
            result.status = "error"
            result.message = f"{type(exc).__name__}: {exc}"
            result.forms = []
        result.elapsed_ms = (time.perf_counter() - start) * 1000.0
        return result

    # ----------------------------------------------------------------- helpers
    def counts(self, forward: bool, t1: str, rel: str, t2: str):
        """Cached per-entity counts of ``all(t1)`` by ``rel`` into type ``t2``.

        Parameters
        ----------
        forward : bool
            Follow ``rel`` from subject to object (``count_each``); with False,
            from object to subject (``count_each_reverse``).
        t1 : str
            Type of the entities counted for.
        rel : str
            The relation followed.
        t2 : str
            Type of the entities counted.

        Returns
        -------
        dict of str to int
            Each member of ``t1`` -> the number of members of ``t2`` it reaches
            by ``rel``. Shared with the cache: do not modify it.
        """
        key = (forward, t1, rel, t2)
        hit = self._counts_cache.get(key)
        if hit is None:
            # Only members of t1 that take part in rel can count more than 0.
            nodes = self.kg.nodes_with(rel, as_subject=forward)
            reach = self.kg.objects if forward else self.kg.subjects
            members, m1 = self.kg.members(t2), self.kg.members(t1)
            hit = dict.fromkeys(m1, 0)
            for e in nodes & m1 if len(nodes) < len(m1) else (e for e in m1 if e in nodes):
                hit[e] = len(reach(e, rel) & members)
            if len(self._counts_cache) > 50000:
                self._counts_cache.clear()
            self._counts_cache[key] = hit
        return hit

    def _rank(self, state) -> list:
        def key(lf):
            return (*state.rank_key(lf), str(lf))

        unique = {}
        for lf in state.found:
            unique.setdefault(lf, None)
        return sorted(unique, key=key)

    def _verify(self, forms, turn, answer) -> list:
        out = []
        for lf in forms:
            try:
                value = self._executor.execute(lf, turn)
            except Exception:  # pragma: no cover - forms are built well-typed
                continue
            if answers_equal(value, answer):
                out.append(lf)
            if len(out) >= self.max_results:
                break
        return out


def _answer_kind(answer):
    if isinstance(answer, bool):
        return "bool", answer
    if isinstance(answer, int):
        if answer < 0:
            raise ValueError(f"a count answer must be non-negative, got {answer}")
        return "num", answer
    if isinstance(answer, (str, bytes)) or not isinstance(answer, (list, tuple, set, frozenset)):
        raise ValueError(
            f"an answer must be a list of entity ids, an int or a bool, got {answer!r}"
        )
    if answer and all(isinstance(a, (bool, int)) for a in answer):
        # Two-part answers of "Mult. entity type" questions, in order.
        if len(answer) != 2:
            raise ValueError(f"multi-part answers must have two parts, got {answer!r}")
        if all(isinstance(a, bool) for a in answer):
            return "pair_bool", tuple(answer)
        if any(isinstance(a, bool) for a in answer) or min(answer) < 0:
            raise ValueError(
                f"a two-part answer holds two counts (>= 0) or two truth values, got {answer!r}"
            )
        return "pair_num", tuple(answer)
    for a in answer:
        if not isinstance(a, str):
            raise ValueError(f"entity answers must hold id strings, got {a!r}")
    return "set", frozenset(answer)


#: Where relation and type candidates come from: ``"graph"`` (the linked
#: entities' neighbourhoods, the labels and a learned ranker; never the turn's
#: annotations) or ``"gold"`` (the turn's ``relations`` and ``type_list``: an
#: oracle, since CSQA gives them as gold annotations a deployed system lacks).
CANDIDATE_MODES = ("graph", "gold")
_STOP = frozenset(
    "a an and any are as at be by did do does for from has have how in is it its many "
    "more most much of on or than that the their them these this those to was were what "
    "which who whom whose with".split()
)
_WORDS = re.compile(r"[^\W\d_]+")
_LEXICONS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _stem(word: str) -> str:
    """Crude singular: ``countries`` -> ``country``, ``rivers`` -> ``river``."""
    w = word.lower()
    if len(w) > 4 and w.endswith("ies"):
        return w[:-3] + "y"
    if len(w) > 3 and w.endswith("s") and not w.endswith("ss"):
        return w[:-1]
    return w


def _stems(text) -> frozenset[str]:
    if not isinstance(text, str):
        return frozenset()
    return frozenset(_stem(w) for w in _WORDS.findall(text) if w.lower() not in _STOP)


def _lexicon(kg: KnowledgeGraph) -> dict:
    """Per graph: stem -> relations / types whose label holds it (computed once)."""
    lex = _LEXICONS.get(kg)
    if lex is None:
        lex = {"relation": {}, "type": {}}
        for category, ids in (("relation", kg.relations), ("type", kg.types)):
            for i in sorted(ids):
                label = kg.label(i)
                if label != i:
                    for w in _stems(label):
                        lex[category].setdefault(w, []).append(i)
        _LEXICONS[kg] = lex
    return lex


@dataclass
class SymbolRanker:
    """A learned choice over the whole relation and type vocabulary.

    Fitted on training utterances and the relations and types of their
    forms: each (word, symbol) pair weighs its pointwise mutual information
    ``log(c(w, s) N / (c(w) c(s)))`` (positive part), a symbol scores the
    sum over the utterance's words, and :meth:`rank` returns the best
    ``top_k`` symbols per category. It supplies candidates to questions whose
    entities do not lead to the right relation or type (questions about
    types only: "Which country has the most rivers?").

    Attributes
    ----------
    weights : dict
        Word stem -> ``{(category, symbol): weight}``, the positive pointwise
        mutual informations.
    top_k : int, default=3
        Number of symbols per category that :meth:`rank` returns.

    Examples
    --------
    >>> from sktheory.logical_form import SymbolRanker, parse
    >>> turns = [{"utterance": "Which river flows through X ?"},
    ...          {"utterance": "Who is the father of Y ?"}]
    >>> forms = [parse("filter(find_reverse(X, P4), T1)"), parse("find(Y, P22)")]
    >>> SymbolRanker.fit(turns, forms).rank("Which rivers are there ?")
    {'relation': ['P4'], 'type': ['T1']}
    """

    weights: dict = field(default_factory=dict)
    top_k: int = 3

    @classmethod
    def fit(
        cls, turns: Sequence[Mapping], forms: Sequence, top_k: int = 3, sample_weight=None
    ) -> SymbolRanker:
        """Count words against the relations and types of each turn's form.

        Turns whose form is None are skipped; a turn counts with its
        ``sample_weight`` (an integer weight k as k copies of the turn).

        Parameters
        ----------
        turns : sequence of dict
            Training turns; only their ``"utterance"`` is read.
        forms : sequence of LogicalForm or None
            Each turn's form, or None.
        top_k : int, default=3
            Number of symbols per category that :meth:`rank` returns.
        sample_weight : sequence of float, optional
            Weight of each turn; all 1 by default.

        Returns
        -------
        SymbolRanker
            The fitted ranker.
        """
        if sample_weight is None:
            sample_weight = [1.0] * len(turns)
        pair: dict = {}
        word_n: dict = {}
        sym_n: dict = {}
        n = 0
        for turn, lf, w in zip(turns, forms, sample_weight, strict=True):
            if lf is None:
                continue
            w = float(w)
            used = symbols(lf)
            syms = [("relation", r) for r in sorted(used["relation"])]
            syms += [("type", t) for t in sorted(used["type"])]
            n += w
            ws = _stems(turn.get("utterance"))
            for word in ws:
                word_n[word] = word_n.get(word, 0) + w
            for sym in syms:
                sym_n[sym] = sym_n.get(sym, 0) + w
                for word in ws:
                    pair[(word, sym)] = pair.get((word, sym), 0) + w
        weights: dict = {}
        for (w, sym), c in sorted(pair.items()):
            pmi = math.log(c * n / (word_n[w] * sym_n[sym]))
            if pmi > 0:
                weights.setdefault(w, {})[sym] = pmi
        return cls(weights=weights, top_k=top_k)

    def scores(self, text) -> dict:
        """(category, symbol) -> score for an utterance (positive scores only).

        Parameters
        ----------
        text : str or None
            The utterance.

        Returns
        -------
        dict
            ``(category, symbol)`` -> the sum of its weights over the
            utterance's word stems, for symbols with a positive score.
        """
        out: dict = {}
        for w in sorted(_stems(text)):
            for sym, v in self.weights.get(w, {}).items():
                out[sym] = out.get(sym, 0.0) + v
        return out

    def rank(self, text) -> dict[str, list[str]]:
        """The ``top_k`` best relations and types for an utterance.

        Parameters
        ----------
        text : str or None
            The utterance.

        Returns
        -------
        dict of str to list of str
            ``{"relation": [...], "type": [...]}``, best first.
        """
        scored = self.scores(text)
        out = {}
        for category in ("relation", "type"):
            items = sorted(
                ((-v, s) for (c, s), v in scored.items() if c == category),
            )
            out[category] = [s for _, s in items[: self.top_k]]
        return out


def candidate_symbols(
    turn: Mapping,
    kg: KnowledgeGraph | None = None,
    *,
    candidates: str = "gold",
    ranker: SymbolRanker | None = None,
    max_relations: int = 8,
    max_types: int = 8,
) -> dict:
    """The symbols a form for this turn may use (those the search uses).

    Entities are the turn's ``entities_in_utterance`` (entities as CSQA links
    them), then new ones of the previous user turn; ``references`` are
    ``prev_answer`` / ``prev_entities`` when non-empty; ``numbers`` the
    integers written in the utterance. Relations and types depend on
    ``candidates``:

    - ``"gold"`` (the oracle): the turn's ``relations`` and ``type_list``,
      then new ones of the previous user turn. CSQA provides these as gold
      annotations; published systems are evaluated without them.
    - ``"graph"``: never reads ``relations`` or ``type_list``. Relations are
      those of the triples around the linked entities (the turn's, the
      previous turn's and the previous answer's), relations and types whose
      labels share a word with the utterance or the previous question, and the ``ranker``'s learned
      choice over the whole vocabulary; types are those of the linked
      entities and of their neighbours, by label and by ``ranker``. Those
      from the graph are ranked (label words shared with the utterance, then
      with the previous question; the current turn's neighbourhood before
      the previous one's; frequency; identifier) and cut to
      ``max_relations`` / ``max_types``; the ranker's ``top_k`` come after
      them. Without ``kg`` only the ranker's choice remains.

    Parameters
    ----------
    turn : dict
        A self-contained turn (CSQA user turn plus ``"previous"``).
    kg : KnowledgeGraph, optional
        The graph; identifiers it does not know are dropped. Required for
        graph candidates other than the ranker's.
    candidates : {"gold", "graph"}, default="gold"
        Where relation and type candidates come from (see above).
    ranker : SymbolRanker, optional
        Learned relation/type choice added to ``"graph"`` candidates.
    max_relations : int, default=8
        Relations taken from the graph, at most.
    max_types : int, default=8
        Types taken from the graph, at most.

    Returns
    -------
    dict
        ``entities``, ``relations``, ``types``, ``numbers``, ``references``;
        ``linked`` (the current turn's own symbols as sets by category
        ``entity``/``relation``/``type``/``number``, which the search prefers
        to use: with ``"gold"`` its annotations, an elliptical turn without
        relations inheriting the previous turn's; with ``"graph"`` the
        relations and types named by the utterance's words); ``current``
        (relations and types of the current turn, not inherited) and
        ``unknown`` (ids dropped because ``kg`` does not know them; nothing
        is dropped without ``kg``).

    Examples
    --------
    >>> from sktheory.logical_form import KnowledgeGraph, candidate_symbols
    >>> previous = {"user": {"entities_in_utterance": ["Q1"], "relations": ["P17"]},
    ...             "system": {"all_entities": ["Q9"]}}
    >>> turn = {"utterance": "And at least 3 of X?", "entities_in_utterance": ["Q2"],
    ...         "previous": previous}
    >>> c = candidate_symbols(turn)
    >>> c["entities"], c["relations"], c["numbers"], c["references"]
    (['Q2', 'Q1'], ['P17'], [3], ['prev_answer', 'prev_entities'])
    >>> kg = KnowledgeGraph([("Q1", "P17", "Q2"), ("Q2", "P36", "Q3")],
    ...                     entity_types={"Q1": "Q515", "Q2": "Q6256"},
    ...                     labels={"Q6256": "country"},
    ...                     relation_labels={"P17": "country", "P36": "capital"})
    >>> c = candidate_symbols({"utterance": "Which country is Q1 in ?",
    ...                        "entities_in_utterance": ["Q1"]}, kg, candidates="graph")
    >>> c["relations"], c["types"], c["linked"]["type"]
    (['P17'], ['Q6256', 'Q515'], {'Q6256'})
    """
    validate_turn(turn)
    if candidates not in CANDIDATE_MODES:
        raise ValueError(f"candidates must be one of {CANDIDATE_MODES}, got {candidates!r}")
    unknown: list[str] = []
    prev_user = ((turn.get("previous") or {}).get("user")) or {}
    known_sets = (
        {"entity": kg.entities, "relation": kg.relations, "type": kg.types}
        if kg is not None
        else None
    )

    def known(ids, category):
        out = []
        for i in ids or []:
            if known_sets is None or i in known_sets[category]:
                if i not in out:
                    out.append(i)
            elif i not in unknown:
                unknown.append(i)
        return out

    cur_e = known(turn.get("entities_in_utterance"), "entity")
    prev_e = known(prev_user.get("entities_in_utterance"), "entity")
    numbers = sorted({int(m) for m in _INT.findall(turn.get("utterance", ""))})
    refs = previous_refs(turn)
    out = {
        "entities": cur_e + [e for e in prev_e if e not in cur_e],
        "numbers": numbers,
        "references": [name for name in ("prev_answer", "prev_entities") if refs[name]],
        "unknown": unknown,
    }
    if candidates == "gold":
        cur_r = known(turn.get("relations"), "relation")
        cur_t = known(turn.get("type_list"), "type")
        prev_r = known(prev_user.get("relations"), "relation")
        prev_t = known(prev_user.get("type_list"), "type")
        out["relations"] = cur_r + [r for r in prev_r if r not in cur_r]
        out["types"] = cur_t + [t for t in prev_t if t not in cur_t]
        # Elliptical turns inherit the relations and types of the previous one.
        linked_r, linked_t = set(cur_r or prev_r), set(cur_t or (prev_t if not cur_r else []))
        out["current"] = {"relation": set(cur_r or prev_r), "type": set(cur_t)}
    else:
        prev_answer = sorted(refs["prev_answer"])[:20]
        extra = [e for e in prev_e if e not in cur_e] + [
            e for e in prev_answer if e not in cur_e and e not in prev_e
        ]
        out["relations"], out["types"], linked_r, linked_t, out["current"] = _from_graph(
            turn.get("utterance"),
            prev_user.get("utterance"),
            kg,
            cur_e,
            extra,
            ranker,
            max_relations,
            max_types,
        )
    out["linked"] = {
        "entity": set(cur_e),
        "relation": linked_r,
        "type": linked_t,
        "number": set(numbers),
    }
    return out


_MAX_NEIGHBOURS = 200


def _neighbourhood(kg: KnowledgeGraph, anchors) -> tuple[set, dict]:
    """Relations around the anchors, and the types of the anchors and their
    neighbours with how often they occur (a deterministic sample of at most
    ``_MAX_NEIGHBOURS`` neighbours per entity and relation)."""
    rels: set = set()
    types: dict = {}
    for e in anchors:
        for t in kg.types_of(e):
            types[t] = types.get(t, 0) + 1
        for r in kg.relations_of(e):
            rels.add(r)
            for side in (kg.objects(e, r), kg.subjects(e, r)):
                near = side if len(side) <= _MAX_NEIGHBOURS else sorted(side)[:_MAX_NEIGHBOURS]
                for n in near:
                    for t in kg.types_of(n):
                        types[t] = types.get(t, 0) + 1
    return rels, types


def _from_graph(text, prev_text, kg, cur_e, extra_e, ranker, max_relations, max_types):
    lex = _lexicon(kg) if kg is not None else {"relation": {}, "type": {}}

    def named(words):
        out = {"relation": {}, "type": {}}
        for category in out:
            for w in words:
                for i in lex[category].get(w, ()):
                    out[category][i] = out[category].get(i, 0) + 1
        return out

    lexical = named(_stems(text))
    # An elliptical turn ("And X?") keeps the previous question's relation.
    earlier = named(_stems(prev_text))
    chosen = ranker.rank(text) if ranker is not None else {"relation": [], "type": []}
    cur_rels, cur_types = _neighbourhood(kg, cur_e) if kg is not None else (set(), {})
    prev_rels, prev_types = _neighbourhood(kg, extra_e) if kg is not None else (set(), {})
    pools = {
        "relation": (cur_rels, prev_rels, {}, max_relations),
        "type": (set(cur_types), set(prev_types), {**prev_types, **cur_types}, max_types),
    }
    picked = {}
    for category, (cur, prev, freq, limit) in pools.items():
        pool = cur | prev | set(lexical[category]) | set(earlier[category])

        def key(i, category=category, cur=cur, freq=freq):
            return (
                -lexical[category].get(i, 0),
                -earlier[category].get(i, 0),
                i not in cur,
                -freq.get(i, 0),
                i,
            )

        # The learned choice comes on top of the graph's, so that adding a
        # ranker never removes a candidate the graph gives.
        base = sorted(pool, key=key)[:limit]
        picked[category] = base + [i for i in chosen[category] if i not in base]
    rels, types = picked["relation"], picked["type"]
    linked_r = {r for r in rels if lexical["relation"].get(r)}
    linked_t = {t for t in types if lexical["type"].get(t)}
    current = {
        "relation": {r for r in rels if r in cur_rels or r in lexical["relation"]},
        "type": {t for t in types if t in cur_types or t in lexical["type"]},
    }
    return rels, types, linked_r, linked_t, current


class _State:
    """One search: candidate symbols, the pool of sets, and the forms found."""

    def __init__(self, searcher: Searcher, turn, kind, gold, refs, start):
        self.s = searcher
        self.kg = searcher.kg
        self.kind, self.gold = kind, gold
        self.deadline = start + searcher.time_budget
        self.timed_out = False
        self.n_built = 0
        self.found: list = []
        cands = candidate_symbols(
            turn, self.kg, candidates=searcher.candidates, ranker=searcher.ranker
        )
        self.unknown: list[str] = cands["unknown"]
        self.entities = cands["entities"]
        self.relations = cands["relations"]
        self.types = cands["types"]
        self.numbers = cands["numbers"]
        self.refs = refs
        self.linked = cands["linked"]

    # -- bookkeeping
    def tick(self):
        self.n_built += 1
        if self.n_built >= self.s.max_nodes:
            raise _Budget
        if self.n_built % 64 == 0 and time.perf_counter() > self.deadline:
            raise _Budget

    def why_not(self) -> str:
        if not (self.entities or self.refs["prev_answer"] or self.refs["prev_entities"]):
            if not self.types:
                return "no entity or type of the turn is in the graph"
        if not self.relations:
            return "no relation of the turn (or of the previous turn) is in the graph"
        return "no form within the search bounds produces the answer"

    def add(self, pool: dict, expr, value, limit=None) -> bool:
        """Add a set to a value-keyed pool; True if the value is new."""
        self.tick()
        if not value or len(value) > self.s.max_set_size:
            return False
        if self.kind == "set" and value == self.gold:
            self.found.append(expr)  # every consistent set form, not only those kept
        entry = pool.get(value)
        if entry is None:
            pool[value] = [expr]
            return True
        if expr not in entry:
            # Keep the shortest expression first (the value's representative,
            # best to build on) and then those using the most symbols of the
            # turn (best as answers).
            entry.append(expr)
            entry.sort(key=lambda x: (size(x), self.rank_key(x)))
            rest = sorted(entry[1:], key=self.rank_key)
            entry[1:] = rest[: (limit or self.s.max_alternatives) - 1]
        return False

    def rank_key(self, lf) -> tuple[int, int]:
        """(unused symbols of the turn, size): smaller ranks first."""
        used = symbols(lf)
        unused = sum(len(self.linked[k] - used[k]) for k in self.linked)
        return (unused if self.s.prefer_linked else 0, size(lf))

    # -- the search
    def run(self):
        kg, S = self.kg, self.s
        if time.perf_counter() > self.deadline:
            raise _Budget
        # Atoms: candidate entities and references.
        atoms: dict = {}
        for e in self.entities:
            self.add(atoms, Entity(e), frozenset((e,)))
        for name in ("prev_answer", "prev_entities"):
            if self.refs[name]:
                self.add(atoms, Reference(name), self.refs[name])
        # One hop, then type filters.
        hop1: dict = {}
        # Every one-hop set, also those with equal values, for set operators
        # over entity answers ("the r of both A and B" when both are equal).
        singles: list = []
        for value, exprs in list(atoms.items()):
            for r in self.relations:
                fwd = _union(kg.objects, value, r)
                rev = _union(kg.subjects, value, r)
                for expr in exprs:
                    for op, v in (("find", fwd), ("find_reverse", rev)):
                        node = Op(op, (expr, Relation(r)))
                        self.add(hop1, node, v)
                        if v:
                            singles.append((node, v))
        for node, v in list(singles):
            for t in self.types:
                members = self.kg.members(t)
                kept = frozenset(e for e in v if e in members)
                if kept:
                    singles.append((Op("filter", (node, Type(t))), kept))
        base = {v: list(e) for v, e in hop1.items()}
        self._filters(hop1, base)
        # Two hops (no set operator on them).
        hop2: dict = {}
        if S.max_hops >= 2:
            for value, exprs in list(hop1.items()):
                for r in self.relations:
                    fwd = _union(kg.objects, value, r)
                    rev = _union(kg.subjects, value, r)
                    for expr in exprs[:1]:
                        self.add(hop2, Op("find", (expr, Relation(r))), fwd)
                        self.add(hop2, Op("find_reverse", (expr, Relation(r))), rev)
            filtered2 = dict(hop2)
            self._filters(hop2, filtered2)
            hop2 = {v: e for v, e in filtered2.items() if v not in base}
        # Answers from simple sets.
        simple = dict(base)
        for v, e in hop2.items():
            simple.setdefault(v, e)
        self._match_sets(simple)
        if self.kind == "bool":
            # Verification forms use no set operator and no counts.
            self._verification(atoms, simple)
            return
        if self.kind == "pair_bool":
            self._verification_pair(atoms, simple)
            return
        if self.kind == "pair_num":
            # "How many A and B ...": two counts of simple sets.
            self._count_pair(simple)
            return
        if self._complete():
            return
        # One set operator over one-hop (filtered) sets.
        setops = self._set_operators(base, singles)
        self._match_sets(setops)
        if self._complete():
            return
        # Per-entity counts: superlatives and comparisons.
        self._counting(base)

    def _complete(self) -> bool:
        """Whether a found form uses every symbol of the turn: later stages
        only build larger forms, which would rank after it."""
        # Graph candidates name relations and types by label words, which
        # several labels may share: only the linked entities and numbers must
        # then all be used.
        kinds = self.linked if self.s.candidates == "gold" else ("entity", "number")
        for lf in self.found:
            used = symbols(lf)
            if all(self.linked[k] <= used[k] for k in kinds):
                return True
        return False

    def _filters(self, source: dict, into: dict):
        for value, exprs in list(source.items()):
            for t in self.types:
                members = self.kg.members(t)
                kept = frozenset(e for e in value if e in members)
                for expr in exprs[:1]:
                    self.add(into, Op("filter", (expr, Type(t))), kept)

    def _match_sets(self, pool: dict):
        if self.kind == "set":
            exprs = pool.get(self.gold)
            if exprs:
                self.found.extend(exprs)
        elif self.kind == "num":
            for value, exprs in pool.items():
                if len(value) == self.gold:
                    self.found.extend(Op("count", (e,)) for e in exprs)

    def _verification(self, atoms: dict, sets: dict):
        for a_value, a_exprs in atoms.items():
            for value, exprs in sets.items():
                self.tick()
                if (a_value <= value) == self.gold:
                    for a in a_exprs[:1]:
                        self.found.extend(Op("is_in", (a, e)) for e in exprs)

    def _verification_pair(self, atoms: dict, sets: dict):
        """``pair_bool(is_in(a, S), is_in(b, S))``: two entities tested against
        the same set ("Is X a citizen of A and B?")."""
        g0, g1 = self.gold
        items = list(atoms.items())
        for value, exprs in sets.items():
            e = exprs[0]
            # The tested entities are not the set's own anchors ("Is X in
            # find(X, r)" is true or false by the graph's shape, not the question).
            anchors = symbols(e)["entity"] | {r.name for r in _references(e)}
            for a_value, a_exprs in items:
                self.tick()
                a = a_exprs[0]
                if (a_value <= value) != g0 or _atom_name(a) in anchors:
                    continue
                for b_value, b_exprs in items:
                    b = b_exprs[0]
                    if b_value == a_value or (b_value <= value) != g1 or _atom_name(b) in anchors:
                        continue
                    self.tick()
                    first, second = Op("is_in", (a, e)), Op("is_in", (b, e))
                    self.found.append(Op("pair_bool", (first, second)))

    def _count_pair(self, sets: dict, per_part: int = 8):
        """``pair_num(count(A), count(B))`` for two simple sets of the answer's
        sizes, the ``per_part`` best-ranked sets of each size combined."""
        parts = []
        for n in self.gold:
            forms = [Op("count", (e,)) for v, es in sets.items() if len(v) == n for e in es]
            forms.sort(key=lambda f: (self.rank_key(f), str(f)))
            parts.append(forms[:per_part])
        for a in parts[0]:
            for b in parts[1]:
                self.tick()
                if a != b:
                    self.found.append(Op("pair_num", (a, b)))

    def _set_operators(self, base: dict, singles: list) -> dict:
        pool: dict = {}
        made: list = []
        gold = self.gold if self.kind == "set" else None
        # With an entity answer the pruning keeps few pairs, so every one-hop
        # set is combined; otherwise only one representative per value.
        if gold is not None:
            items = [(v, [e]) for e, v in singles]
            alts = self.s.max_alternatives
        else:
            items = list(base.items())
            alts = 1
        for i, (va, ea) in enumerate(items):
            for j, (vb, eb) in enumerate(items):
                if i == j:
                    continue
                union_ok = i < j and (gold is None or (va <= gold and vb <= gold))
                inter_ok = i < j and (gold is None or (gold <= va and gold <= vb))
                diff_ok = gold is None or gold <= va
                if not (union_ok or inter_ok or diff_ok):
                    continue
                for a in ea[:alts]:
                    for b in eb[:alts]:
                        for ok, name, value in (
                            (union_ok, "union", va | vb),
                            (inter_ok, "inter", va & vb),
                            (diff_ok, "diff", va - vb),
                        ):
                            if ok:
                                node = Op(name, (a, b))
                                self.add(pool, node, value)
                                if gold is not None and gold <= value:
                                    made.append((node, value))
        if gold is None:
            made = [(exprs[0], v) for v, exprs in pool.items()]
        # A type filter over the result.
        filtered = {v: list(e) for v, e in pool.items()}
        for expr, value in made:
            for t in self.types:
                members = self.kg.members(t)
                kept = frozenset(e for e in value if e in members)
                self.add(filtered, Op("filter", (expr, Type(t))), kept)
        return filtered

    def _counting(self, base: dict):
        if not self.types or not self.relations:
            return
        S = self.s
        # Numbers: literals of the utterance and counts of candidate sets.
        nums: dict[int, list] = {}
        for n in self.numbers:
            nums.setdefault(n, []).append(Number(n))
        for value, exprs in base.items():
            nums.setdefault(len(value), []).extend(Op("count", (e,)) for e in exprs)
        for n in nums:
            nums[n].sort(key=self.rank_key)
        for t1 in self.types:
            for t2 in self.types:
                for r in self.relations:
                    for forward in (True, False):
                        self.tick()
                        counts = S.counts(forward, t1, r, t2)
                        if not counts or not any(counts.values()):
                            continue
                        op = "count_each" if forward else "count_each_reverse"
                        cm = Op(op, (Op("all", (Type(t1),)), Relation(r), Type(t2)))
                        self._use_counts(cm, counts, nums)
        if self._complete():
            return
        # "Mult. entity type": counts summed over two target types, among the
        # first few candidate types (the rest would multiply the search).
        pairs = [(a, b) for i, a in enumerate(self.types[:4]) for b in self.types[i + 1 : 4]]
        if not pairs:
            return
        for value, exprs in list(base.items()):
            # Numbers such as "than Togo": that entity's objects of either type.
            if not isinstance(exprs[0], Op) or exprs[0].name not in ("find", "find_reverse"):
                continue
            for t2, t3 in pairs:
                self.tick()
                m2, m3 = self.kg.members(t2), self.kg.members(t3)
                a, b = value & m2, value & m3
                if a or b:
                    either = Op(
                        "union",
                        (Op("filter", (exprs[0], Type(t2))), Op("filter", (exprs[0], Type(t3)))),
                    )
                    nums.setdefault(len(a | b), []).append(Op("count", (either,)))
        for t1 in self.types:
            for t2, t3 in pairs:
                for r in self.relations:
                    for forward in (True, False):
                        self.tick()
                        c2, c3 = S.counts(forward, t1, r, t2), S.counts(forward, t1, r, t3)
                        if not c2 or not (any(c2.values()) or any(c3.values())):
                            continue
                        counts = {e: c + c3.get(e, 0) for e, c in c2.items()}
                        op = "count_each2" if forward else "count_each2_reverse"
                        cm = Op(op, (Op("all", (Type(t1),)), Relation(r), Type(t2), Type(t3)))
                        self._use_counts(cm, counts, nums)

    def _use_counts(self, cm, counts: dict, nums: dict):
        want_set = self.kind == "set"
        want_num = self.kind == "num"
        if not (want_set or want_num):
            return
        values = counts.values()
        hi, lo = max(values), min(values)
        for name, best in (("argmax", hi), ("argmin", lo)):
            self.tick()
            value = frozenset(e for e, c in counts.items() if c == best)
            self._match_value(Op(name, (cm,)), value)
        for n, n_exprs in nums.items():
            for name, test in _COMPARE.items():
                self.tick()
                value = frozenset(e for e, c in counts.items() if test(c, n))
                if want_set and value != self.gold:
                    continue
                for ne in n_exprs[:S_ALTS]:
                    self._match_value(Op(name, (cm, ne)), value)

    def _match_value(self, expr, value):
        if self.kind == "set":
            if value == self.gold:
                self.found.append(expr)
        elif len(value) == self.gold:
            self.found.append(Op("count", (expr,)))


S_ALTS = 2


def _atom_name(atom) -> str:
    return atom.id if isinstance(atom, Entity) else atom.name


def _references(lf) -> list:
    if isinstance(lf, Reference):
        return [lf]
    if isinstance(lf, Op):
        return [r for a in lf.args for r in _references(a)]
    return []


def _union(look, entities, rel):
    out: set[str] = set()
    for e in entities:
        out.update(look(e, rel))
    return frozenset(out)


# ---------------------------------------------------------------------------
# Functional entry points and coverage

_SEARCHERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _searcher_for(kg: KnowledgeGraph, params: dict) -> Searcher:
    key = tuple(sorted((k, id(v) if k == "ranker" else v) for k, v in params.items()))
    per_kg = _SEARCHERS.setdefault(kg, {})
    if key not in per_kg:
        per_kg[key] = Searcher(kg, **params)
    return per_kg[key]


def search(turn: Mapping, answer, kg: KnowledgeGraph, **params) -> SearchResult:
    """Find logical forms whose execution on ``kg`` equals ``answer``.

    Parameters
    ----------
    turn : dict
        A self-contained turn (CSQA user turn plus ``"previous"``).
    answer : list of str, int, bool or list of two ints or two bools
        The gold answer (a two-part answer in the order the system gives it).
    kg : KnowledgeGraph
        The graph the forms run on.
    **params
        Options of :class:`Searcher` (``time_budget``, ``max_results``, ...).
        Searchers (and their caches) are reused across calls on the same graph.

    Returns
    -------
    SearchResult
        The consistent forms, best first; see the module for the ranking and
        the statuses. Never raises for a bad turn or answer (status "error").

    Examples
    --------
    >>> from sktheory.logical_form import KnowledgeGraph, search
    >>> kg = KnowledgeGraph([("Q1", "P17", "Q2"), ("Q3", "P17", "Q2")],
    ...                     entity_types={"Q1": "Q515", "Q3": "Q515", "Q2": "Q6256"})
    >>> turn = {"utterance": "How many cities are in Q2?", "entities_in_utterance": ["Q2"],
    ...         "relations": ["P17"], "type_list": ["Q515"]}
    >>> result = search(turn, 2, kg)
    >>> result.status, str(result.best)
    ('found', 'count(filter(find_reverse(Q2, P17), Q515))')
    """
    if not isinstance(kg, KnowledgeGraph):
        raise TypeError(f"kg must be a KnowledgeGraph, got {type(kg).__name__}")
    return _searcher_for(kg, params).search(turn, answer)


def search_many(turns: Sequence, answers: Sequence, kg: KnowledgeGraph, **params) -> list:
    """:func:`search` over a batch; one result per turn, never raises per row.

    Parameters
    ----------
    turns : sequence of dict
        Self-contained turns.
    answers : sequence
        Their gold answers.
    kg : KnowledgeGraph
        The graph the forms run on.
    **params
        Options of :class:`Searcher`.

    Returns
    -------
    list of SearchResult
        One result per turn, in order.

    Raises
    ------
    ValueError
        If ``turns`` and ``answers`` differ in length.
    """
    if len(turns) != len(answers):
        raise ValueError(f"{len(turns)} turns but {len(answers)} answers")
    searcher = _searcher_for(kg, params)
    return [searcher.search(t, a) for t, a in zip(turns, answers, strict=True)]


@dataclass
class CoverageReport:
    """Share of turns with at least one consistent form, per question type.

    Attributes
    ----------
    rows : list of dict
        Per question type: ``question_type``, ``n``, ``found``, ``coverage``,
        ``median_ms``, ``timeouts``, ``errors``.
    overall : float
        Coverage over all turns.
    median_ms : float
        Median search time per turn, in milliseconds.
    results : list of SearchResult
        The search result of each turn, in the order of the turns.
    """

    rows: list
    overall: float
    median_ms: float
    results: list

    def to_markdown(self) -> str:
        """The report as a markdown table.

        Returns
        -------
        str
            One row per question type, then an overall row.
        """
        lines = [
            "| question type | turns | covered | coverage | median ms | timeouts | errors |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for r in self.rows:
            lines.append(
                f"| {r['question_type']} | {r['n']} | {r['found']} | "
                f"{100 * r['coverage']:.1f}% | {r['median_ms']:.2f} | {r['timeouts']} | "
                f"{r['errors']} |"
            )
        n = sum(r["n"] for r in self.rows)
        found = sum(r["found"] for r in self.rows)
        lines.append(
            f"| **overall** | {n} | {found} | {100 * self.overall:.1f}% | "
            f"{self.median_ms:.2f} | {sum(r['timeouts'] for r in self.rows)} | "
            f"{sum(r['errors'] for r in self.rows)} |"
        )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_markdown()


def coverage_report(
    turns: Sequence, answers: Sequence, kg: KnowledgeGraph, *, results=None, **params
) -> CoverageReport:
    """Run the search on every turn (or reuse ``results``) and report coverage.

    Coverage is reported per question type (CSQA's order, then any other
    types, then untyped).

    Parameters
    ----------
    turns : sequence of dict
        Self-contained turns.
    answers : sequence
        Their gold answers.
    kg : KnowledgeGraph
        The graph the forms run on.
    results : list of SearchResult, optional
        Results of an earlier search of these turns, reused instead of
        searching again.
    **params
        Options of :class:`Searcher`.

    Returns
    -------
    CoverageReport
        Coverage, timeouts and errors per question type, and the results.

    Raises
    ------
    ValueError
        If ``results`` does not hold one result per turn.
    """
    if results is None:
        results = search_many(turns, answers, kg, **params)
    if len(results) != len(turns):
        raise ValueError(f"{len(turns)} turns but {len(results)} results")
    groups: dict[str, list] = {}
    for turn, res in zip(turns, results, strict=True):
        qt = turn.get("question-type") if isinstance(turn, Mapping) else None
        groups.setdefault(qt if isinstance(qt, str) else "(none)", []).append(res)
    order = [q for q in QUESTION_TYPES if q in groups]
    order += sorted(q for q in groups if q not in QUESTION_TYPES)
    rows = []
    for q in order:
        rs = groups[q]
        rows.append(
            {
                "question_type": q,
                "n": len(rs),
                "found": sum(r.found for r in rs),
                "coverage": sum(r.found for r in rs) / len(rs),
                "median_ms": statistics.median(r.elapsed_ms for r in rs),
                "timeouts": sum(r.status == "timeout" for r in rs),
                "errors": sum(r.status == "error" for r in rs),
            }
        )
    n = len(results)
    overall = sum(r.found for r in results) / n if n else 0.0
    median_ms = statistics.median(r.elapsed_ms for r in results) if n else 0.0
    return CoverageReport(rows=rows, overall=overall, median_ms=median_ms, results=results)
