"""An in-memory, indexed knowledge graph with CSQA-JSON and rdflib constructors."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from pathlib import Path

import numpy as np

from ._store import Adjacency, GraphBuilder, Interner, iter_json_object

__all__ = ["CSQA_KG_FILES", "KnowledgeGraph", "UnknownSymbolError"]

#: File names of CSQA's knowledge-graph dictionaries, by role, with the meanings
#: CSQA's download page documents: ``child_par_dict_save.json`` is entity ->
#: type, ``child_par_dict_name_2_corr.json`` is type -> label. Several files of
#: one role (CSQA splits the forward map in two) are merged.
CSQA_KG_FILES = {
    "forward": ("wikidata_short_1.json", "wikidata_short_2.json"),
    "reverse": ("comp_wikidata_rev.json",),
    "labels": ("items_wikidata_n.json",),
    "entity_types": ("child_par_dict_save.json", "child_par_dict_immed.json"),
    "type_members": ("par_child_dict.json",),
    "type_labels": ("child_par_dict_name_2_corr.json",),
    "relation_labels": ("filtered_property_wikidata4.json",),
}


_EMPTY: frozenset[str] = frozenset()
# Elements of materialized look-up results a graph keeps before starting afresh.
_CACHE_ELEMENTS = 2_000_000


class UnknownSymbolError(KeyError):
    """A logical form names an entity, relation or type the graph does not know."""

    def __str__(self) -> str:  # KeyError would print the repr of the message
        return str(self.args[0]) if self.args else ""


class KnowledgeGraph:
    """An indexed graph of (subject, relation, object) triples with types and labels.

    Entities, relations and types are identified by strings (Wikidata-style
    ``"Q42"``/``"P31"`` or any other). The graph keeps forward and reverse
    relation maps, entity -> types and type -> entities maps, and labels, so
    that every operator of a logical form is a dictionary look-up.

    Parameters
    ----------
    triples : iterable of (str, str, str)
        ``(subject, relation, object)`` triples between entities.
    entity_types : mapping of str to str or iterable of str, optional
        Type(s) of each entity. Types are identifiers of their own (they may
        also carry labels) and need not be entities.
    labels : mapping of str to str, optional
        Labels of entities and types.
    relation_labels : mapping of str to str, optional
        Labels of relations.

    Attributes
    ----------
    entities : set of str
        Every entity that occurs in a triple or has a type (a read-only view).
    relations : frozenset of str
        Every relation.
    types : frozenset of str
        Every type.

    Raises
    ------
    TypeError
        If ``triples`` is not an iterable of triples (None, a string, a dict).
    ValueError
        If a triple, type or label is malformed.

    See Also
    --------
    KnowledgeGraph.from_csqa_json : Build from CSQA's JSON dictionaries.
    KnowledgeGraph.from_csqa_folder : Load CSQA's knowledge-graph files.
    KnowledgeGraph.from_rdflib : Build from an rdflib graph.

    Examples
    --------
    >>> from sktheory.logical_form import KnowledgeGraph
    >>> kg = KnowledgeGraph([("Q1", "P17", "Q2")], entity_types={"Q2": "Q6256"},
    ...                     labels={"Q1": "Paris", "Q2": "France"})
    >>> sorted(kg.objects("Q1", "P17")), kg.label("Q2")
    (['Q2'], 'France')
    """

    def __init__(
        self,
        triples: Iterable[tuple[str, str, str]] = (),
        *,
        entity_types: Mapping | None = None,
        labels: Mapping[str, str] | None = None,
        relation_labels: Mapping[str, str] | None = None,
    ):
        if isinstance(triples, (str, bytes, Mapping)) or not isinstance(triples, Iterable):
            raise TypeError(
                "KnowledgeGraph expects an iterable of (subject, relation, object) "
                f"string triples, got {type(triples).__name__}; load CSQA files with "
                "KnowledgeGraph.from_csqa_folder or from_csqa_json."
            )
        builder = GraphBuilder()
        add = builder.add_triple
        for i, triple in enumerate(triples):
            if not isinstance(triple, (tuple, list)) or len(triple) != 3:
                raise ValueError(f"triple {i} must be (subject, relation, object), got {triple!r}")
            s, r, o = triple
            for name, value in (("subject", s), ("relation", r), ("object", o)):
                if not isinstance(value, str) or not value:
                    raise ValueError(
                        f"triple {i}: {name} must be a non-empty string, got {value!r}"
                    )
            add(s, r, o)
        for entity, types in (entity_types or {}).items():
            if isinstance(types, str):
                types = (types,)
            types = list(types)
            for t in types:
                if not isinstance(t, str) or not t:
                    raise ValueError(f"type of {entity!r} must be a non-empty string, got {t!r}")
            builder.add_types(entity, types)
        _add_labels(builder, labels, relation_labels)
        self._init_from(builder)

    def _init_from(self, builder: GraphBuilder) -> None:
        self._nodes, self._rels = builder.nodes, builder.relations
        self._fwd_adj, self._rev_adj, self._type_adj, self._member_adj, self._is_entity = (
            builder.freeze()
        )
        self._labels: dict[str, str] = {key: text for key, text in builder.labels.items()}
        self._relation_labels: dict[str, str] = dict(builder.relation_labels)
        self.entities = _EntitySet(self._nodes, self._is_entity)
        has_rows = np.diff(self._fwd_adj.group_ptr) > 0
        self.relations = frozenset(
            name for name, used in zip(self._rels.names, has_rows, strict=True) if used
        ) | frozenset(self._relation_labels)
        self.types = frozenset(self._nodes.names[int(t)] for t in self._member_adj.group_keys(0))
        self._by_label: dict[str, list[str]] | None = None
        self._incident: Adjacency | None = None
        self._cache: dict = {}
        self._cache_cost = 0

    def __deepcopy__(self, memo):
        # The graph is never modified after construction, so copies (as
        # scikit-learn's clone makes of parameters) can share it.
        return self

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_cache"], state["_cache_cost"] = {}, 0
        return state

    # ------------------------------------------------------------------ look-ups
    def _names(self, ids: np.ndarray, names: list[str] | None = None) -> frozenset[str]:
        get = (self._nodes.names if names is None else names).__getitem__
        return frozenset(map(get, ids.tolist()))

    def _cached(self, key, compute):
        hit = self._cache.get(key)
        if hit is None:
            hit = compute()
            # Materialized sets are kept, up to a bounded number of elements,
            # so repeated look-ups during a search cost one dictionary probe.
            self._cache_cost += len(hit) + 1
            if self._cache_cost > _CACHE_ELEMENTS:
                self._cache.clear()
                self._cache_cost = len(hit) + 1
            self._cache[key] = hit
        return hit

    def _row(self, adj: Adjacency, group: int, node: str) -> frozenset[str]:
        i = self._nodes.get(node)
        if group < 0 or i < 0:
            return _EMPTY
        return self._names(adj.row(group, i))

    def objects(self, subject: str, relation: str) -> frozenset[str]:
        """Objects ``o`` of triples ``(subject, relation, o)``.

        Parameters
        ----------
        subject : str
            The subject entity.
        relation : str
            The relation.

        Returns
        -------
        frozenset of str
            The objects (empty if there are none or a symbol is unknown).
        """
        return self._cached(
            ("o", subject, relation),
            lambda: self._row(self._fwd_adj, self._rels.get(relation), subject),
        )

    def subjects(self, obj: str, relation: str) -> frozenset[str]:
        """Subjects ``s`` of triples ``(s, relation, obj)``.

        Parameters
        ----------
        obj : str
            The object entity.
        relation : str
            The relation.

        Returns
        -------
        frozenset of str
            The subjects (empty if there are none or a symbol is unknown).
        """
        return self._cached(
            ("s", obj, relation),
            lambda: self._row(self._rev_adj, self._rels.get(relation), obj),
        )

    def types_of(self, entity: str) -> frozenset[str]:
        """Types of an entity.

        Parameters
        ----------
        entity : str
            The entity.

        Returns
        -------
        frozenset of str
            Its types (empty if it has none).
        """
        return self._cached(("t", entity), lambda: self._row(self._type_adj, 0, entity))

    def members(self, type_: str) -> frozenset[str]:
        """Entities of a type.

        Parameters
        ----------
        type_ : str
            The type.

        Returns
        -------
        frozenset of str
            Its entities (empty for an unknown type).
        """
        return self._cached(("m", type_), lambda: self._row(self._member_adj, 0, type_))

    def relations_of(self, entity: str) -> frozenset[str]:
        """Relations of the triples the entity takes part in (either side).

        The entity's neighbourhood, from which :func:`candidate_symbols` draws
        relation candidates without reading a turn's annotations.

        Parameters
        ----------
        entity : str
            The entity.

        Returns
        -------
        frozenset of str
            The relations (empty for an unknown entity).
        """
        if self._incident is None:
            k1, g1 = self._fwd_adj.key_groups()
            k2, g2 = self._rev_adj.key_groups()
            keys = np.concatenate((k1, k2))
            self._incident = Adjacency(
                np.zeros(keys.size, dtype=np.int64),
                keys,
                np.concatenate((g1, g2)),
                n_groups=1,
                n_nodes=max(len(self._nodes), len(self._rels)),
            )
        incident = self._incident
        return self._cached(
            ("r", entity),
            lambda: (
                self._names(incident.row(0, i), self._rels.names)
                if (i := self._nodes.get(entity)) >= 0
                else _EMPTY
            ),
        )

    def nodes_with(self, relation: str, *, as_subject: bool = True) -> frozenset[str]:
        """Nodes that are the subject (or object) of at least one ``relation`` triple.

        Parameters
        ----------
        relation : str
            The relation.
        as_subject : bool, default=True
            Subjects of the relation's triples; False gives their objects.

        Returns
        -------
        frozenset of str
            The nodes (empty for an unknown relation).
        """
        adj = self._fwd_adj if as_subject else self._rev_adj
        g = self._rels.get(relation)
        return self._cached(
            ("k", as_subject, relation),
            lambda: self._names(adj.group_keys(g)) if g >= 0 else _EMPTY,
        )

    def label(self, identifier: str) -> str:
        """Label of an entity, type or relation.

        Parameters
        ----------
        identifier : str
            The entity, type or relation.

        Returns
        -------
        str
            Its label, or the identifier itself if it has none.
        """
        if identifier in self._labels:
            return self._labels[identifier]
        return self._relation_labels.get(identifier, identifier)

    def find_by_label(self, label: str) -> list[str]:
        """Entities and types whose label is ``label`` (case-insensitive).

        Parameters
        ----------
        label : str
            The label to look up.

        Returns
        -------
        list of str
            The matching identifiers, sorted.
        """
        if self._by_label is None:
            index: dict[str, list[str]] = {}
            for key, value in self._labels.items():
                index.setdefault(value.casefold(), []).append(key)
            self._by_label = index
        return sorted(self._by_label.get(label.casefold(), []))

    def triples(self) -> Iterator[tuple[str, str, str]]:
        """Iterate over every ``(subject, relation, object)`` triple, sorted.

        Yields
        ------
        tuple of (str, str, str)
            ``(subject, relation, object)``, sorted by relation, subject and
            object.
        """
        names = self._nodes.names
        for r in sorted(self._rels.names):
            g = self._rels.get(r)
            for s in sorted(names[int(k)] for k in self._fwd_adj.group_keys(g)):
                for o in sorted(self._row(self._fwd_adj, g, s)):
                    yield s, r, o

    @property
    def n_triples(self) -> int:
        """Number of triples.

        Returns
        -------
        int
            The number of distinct triples.
        """
        return self._fwd_adj.n_values

    @property
    def nbytes(self) -> int:
        """Bytes held by the adjacency arrays (identifiers and labels not counted).

        Returns
        -------
        int
            Total size of the numpy index arrays.
        """
        adjs = (self._fwd_adj, self._rev_adj, self._type_adj, self._member_adj)
        return sum(a.nbytes for a in adjs) + self._is_entity.nbytes

    @property
    def labels(self) -> dict[str, str]:
        """Labels of entities and types (a copy).

        Returns
        -------
        dict of str to str
            Identifier -> label.
        """
        return dict(self._labels)

    @property
    def relation_labels(self) -> dict[str, str]:
        """Labels of relations (a copy).

        Returns
        -------
        dict of str to str
            Relation -> label.
        """
        return dict(self._relation_labels)

    @property
    def entity_types(self) -> dict[str, set[str]]:
        """Entity -> set of types (a copy).

        Returns
        -------
        dict of str to set of str
            Every typed entity with its types.
        """
        names = self._nodes.names
        adj = self._type_adj
        return {
            names[int(e)]: set(self._names(adj.values[adj.indptr[j] : adj.indptr[j + 1]]))
            for j, e in enumerate(adj.group_keys(0))
        }

    def check_symbol(self, category: str, identifier: str) -> None:
        """Raise :class:`UnknownSymbolError` unless the graph knows the identifier.

        Parameters
        ----------
        category : {"entity", "relation", "type"}
            Where to look.
        identifier : str
            The identifier.

        Raises
        ------
        UnknownSymbolError
            If the graph does not know the identifier in that category.
        ValueError
            If ``category`` is not one of the three.
        """
        known = {"entity": self.entities, "relation": self.relations, "type": self.types}
        if category not in known:
            raise ValueError(f"unknown category {category!r}")
        if identifier not in known[category]:
            raise UnknownSymbolError(f"unknown {category} {identifier!r}: not in the graph")

    def __repr__(self) -> str:
        return (
            f"KnowledgeGraph({len(self.entities)} entities, "
            f"{len(self.relations)} relations, "
            f"{len(self.types)} types, {self.n_triples} triples)"
        )

    # ---------------------------------------------------------------- CSQA JSON
    @classmethod
    def from_csqa_json(
        cls,
        forward: Mapping,
        *,
        reverse: Mapping | None = None,
        labels: Mapping | None = None,
        entity_types: Mapping | None = None,
        type_members: Mapping | None = None,
        relation_labels: Mapping | None = None,
        type_labels: Mapping | None = None,
    ) -> KnowledgeGraph:
        """Build a graph from CSQA's JSON dictionaries (already loaded).

        Parameters
        ----------
        forward : dict
            Subject -> relation -> list of objects (``wikidata_short_*.json``).
        reverse : dict, optional
            Object -> relation -> list of subjects (``comp_wikidata_rev.json``);
            its triples are added to the forward ones (CSQA's reverse map holds
            triples missing from the forward files).
        labels : dict, optional
            Entity or type -> label (``items_wikidata_n.json``).
        entity_types : dict, optional
            Entity -> type or list of types (``child_par_dict_save.json``).
        type_members : dict, optional
            Type -> list of entities (``par_child_dict.json``).
        relation_labels : dict, optional
            Relation -> label (``filtered_property_wikidata4.json``).
        type_labels : dict, optional
            Type -> label (``child_par_dict_name_2_corr.json``); merged into
            ``labels`` (a label there wins).

        Returns
        -------
        KnowledgeGraph
            The graph.

        Raises
        ------
        ValueError
            If a dictionary does not have the nesting described above; the
            message names the dictionary and the offending key.
        """
        builder = GraphBuilder()
        given = {
            "forward": forward,
            "reverse": reverse,
            "labels": labels,
            "entity_types": entity_types,
            "type_members": type_members,
            "type_labels": type_labels,
            "relation_labels": relation_labels,
        }
        for role, mapping in given.items():
            if mapping is None:
                continue
            _require_mapping(mapping, role)
            for key, value in mapping.items():
                _feed(builder, role, key, value, override=-1)
        graph = cls.__new__(cls)
        graph._init_from(builder)
        return graph

    @classmethod
    def from_csqa_folder(cls, path: str | os.PathLike) -> KnowledgeGraph:
        """Load CSQA's knowledge-graph files from a folder.

        The folder must hold at least one forward file (see
        :data:`CSQA_KG_FILES`); the others are optional. Files are read one
        top-level entry at a time, so CSQA's multi-GB files never sit in
        memory whole.

        Parameters
        ----------
        path : str or path-like
            The folder.

        Returns
        -------
        KnowledgeGraph
            The graph.

        Raises
        ------
        FileNotFoundError
            If the folder or its forward file is missing.
        ValueError
            If a file is not UTF-8, not valid JSON or has the wrong nesting
            (the message names the file).
        """
        folder = Path(path)
        if not folder.is_dir():
            raise FileNotFoundError(f"no such knowledge-graph folder: {folder}")
        if not any((folder / name).exists() for name in CSQA_KG_FILES["forward"]):
            raise FileNotFoundError(
                f"{folder} holds no forward knowledge-graph file "
                f"({' or '.join(CSQA_KG_FILES['forward'])})"
            )
        builder = GraphBuilder()
        # Labels are read before type labels, which never replace them.
        for role, names in CSQA_KG_FILES.items():
            for index, name in enumerate(names):
                file = folder / name
                if not file.exists():
                    continue
                override = index if role == "entity_types" else -1
                try:
                    for key, value in iter_json_object(file):
                        try:
                            _feed(builder, role, key, value, override=override)
                        except ValueError as exc:
                            raise _FeedError(f"{file}: {exc}") from None
                except _FeedError as exc:
                    raise ValueError(str(exc)) from None
                except UnicodeDecodeError as exc:
                    raise ValueError(
                        f"knowledge-graph file {file} is not valid UTF-8: {exc}"
                    ) from None
        graph = cls.__new__(cls)
        graph._init_from(builder)
        return graph

    def to_csqa_json(self) -> dict[str, dict]:
        """The graph as CSQA's dictionaries, keyed by the file names to write.

        Returns
        -------
        dict of str to dict
            File name -> the JSON object CSQA stores in that file.
        """
        forward: dict[str, dict[str, list[str]]] = {}
        reverse: dict[str, dict[str, list[str]]] = {}
        for s, r, o in self.triples():
            forward.setdefault(s, {}).setdefault(r, []).append(o)
            reverse.setdefault(o, {}).setdefault(r, []).append(s)
        # CSQA gives one type per entity (a string); several stay a list.
        ent_types = {
            e: (next(iter(ts)) if len(ts) == 1 else sorted(ts))
            for e, ts in sorted(self.entity_types.items())
        }
        members = {t: sorted(self.members(t)) for t in sorted(self.types)}
        type_labels = {t: self._labels[t] for t in sorted(self.types) if t in self._labels}
        return {
            "wikidata_short_1.json": forward,
            "comp_wikidata_rev.json": reverse,
            "items_wikidata_n.json": dict(sorted(self._labels.items())),
            "child_par_dict_save.json": ent_types,
            "child_par_dict_name_2_corr.json": type_labels,
            "par_child_dict.json": members,
            "filtered_property_wikidata4.json": dict(sorted(self._relation_labels.items())),
        }

    def to_csqa_folder(self, path: str | os.PathLike, *, include_reverse: bool = True) -> None:
        """Write the graph as CSQA's JSON files into a folder (created if needed).

        Parameters
        ----------
        path : str or path-like
            The folder.
        include_reverse : bool, default=True
            Also write the reverse map ``comp_wikidata_rev.json``.
        """
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in self.to_csqa_json().items():
            if name == "comp_wikidata_rev.json" and not include_reverse:
                continue
            (folder / name).write_text(
                json.dumps(data, ensure_ascii=False, separators=(",", ":")), "utf-8"
            )

    # ------------------------------------------------------------------- rdflib
    @classmethod
    def from_rdflib(
        cls,
        graph,
        *,
        namespace: str | None = None,
        type_predicate: str | None = None,
        label_predicate: str | None = None,
    ) -> KnowledgeGraph:
        """Build a graph from an :class:`rdflib.Graph`.

        Triples whose object is a URI become relation triples; ``type_predicate``
        triples (``rdf:type`` by default) give types; ``label_predicate``
        literals (``rdfs:label`` by default) give labels of entities, types and
        relations. Other literal-valued triples and blank nodes are ignored.

        Parameters
        ----------
        graph : rdflib.Graph
            The RDF graph.
        namespace : str, optional
            Prefix stripped from URIs to make identifiers (``"http://x/Q1"`` ->
            ``"Q1"`` for ``namespace="http://x/"``); URIs outside it keep their
            full text. Without it, identifiers are the full URIs.
        type_predicate : str, optional
            Full URI of the typing predicate (``rdf:type`` by default).
        label_predicate : str, optional
            Full URI of the labelling predicate (``rdfs:label`` by default).

        Returns
        -------
        KnowledgeGraph
            The graph.
        """
        try:
            from rdflib import Literal, URIRef
            from rdflib.namespace import RDF, RDFS
        except ImportError as exc:  # pragma: no cover - rdflib is an optional extra
            raise ImportError("from_rdflib needs rdflib (pip install rdflib)") from exc
        type_p = URIRef(type_predicate) if type_predicate else RDF.type
        label_p = URIRef(label_predicate) if label_predicate else RDFS.label

        def local(term) -> str:
            text = str(term)
            if namespace and text.startswith(namespace) and len(text) > len(namespace):
                return text[len(namespace) :]
            return text

        triples, types, labels, rel_labels = [], {}, {}, {}
        literal_labels = []
        for s, p, o in graph:
            if not isinstance(s, URIRef):
                continue
            if p == label_p and isinstance(o, Literal):
                literal_labels.append((local(s), str(o)))
            elif p == type_p and isinstance(o, URIRef):
                types.setdefault(local(s), set()).add(local(o))
            elif isinstance(o, URIRef):
                triples.append((local(s), local(p), local(o)))
        relations = {r for _, r, _ in triples}
        for key, text in sorted(literal_labels):
            (rel_labels if key in relations else labels)[key] = text
        return cls(triples, entity_types=types, labels=labels, relation_labels=rel_labels)

    def to_rdflib(
        self,
        namespace: str = "http://sktheory.example/",
        *,
        type_predicate: str | None = None,
        label_predicate: str | None = None,
    ):
        """The graph as an :class:`rdflib.Graph`.

        Parameters
        ----------
        namespace : str, default="http://sktheory.example/"
            Prefix of every identifier's URI.
        type_predicate : str, optional
            Full URI of the typing predicate (``rdf:type`` by default).
        label_predicate : str, optional
            Full URI of the labelling predicate (``rdfs:label`` by default).

        Returns
        -------
        rdflib.Graph
            The triples, types and labels as RDF.
        """
        from rdflib import Graph, Literal, URIRef
        from rdflib.namespace import RDF, RDFS

        type_p = URIRef(type_predicate) if type_predicate else RDF.type
        label_p = URIRef(label_predicate) if label_predicate else RDFS.label
        g = Graph()
        for s, r, o in self.triples():
            g.add((URIRef(namespace + s), URIRef(namespace + r), URIRef(namespace + o)))
        for e, ts in self.entity_types.items():
            for t in ts:
                g.add((URIRef(namespace + e), type_p, URIRef(namespace + t)))
        for key, text in self._labels.items():
            g.add((URIRef(namespace + key), label_p, Literal(text)))
        for key, text in self._relation_labels.items():
            g.add((URIRef(namespace + key), label_p, Literal(text)))
        return g


def _require_mapping(obj, name: str) -> None:
    if not isinstance(obj, Mapping):
        raise ValueError(
            f"malformed CSQA {name}: expected an object (dict), got {type(obj).__name__}"
        )


class _FeedError(Exception):
    pass


def _feed(builder: GraphBuilder, role: str, key, value, *, override: int) -> None:
    """Add one top-level entry of a CSQA dictionary of the given role."""
    if role in ("forward", "reverse"):
        if not isinstance(value, Mapping):
            raise ValueError(
                f"malformed CSQA {role} map: value of {key!r} must be an object "
                f"relation -> list of entities, got {type(value).__name__}"
            )
        for r, bs in value.items():
            if isinstance(bs, str) or not isinstance(bs, (list, tuple)):
                raise ValueError(
                    f"malformed CSQA {role} map: {key!r} -> {r!r} must be a list of "
                    f"entities, got {type(bs).__name__}"
                )
            for b in bs:
                if not isinstance(b, str):
                    raise ValueError(
                        f"malformed CSQA {role} map: {key!r} -> {r!r} holds a non-string {b!r}"
                    )
            if role == "forward":
                builder.add_objects(key, r, bs)
            else:
                for b in bs:
                    builder.add_triple(b, r, key)
    elif role == "entity_types":
        ts = [value] if isinstance(value, str) else value
        if not isinstance(ts, (list, tuple)):
            raise ValueError(
                f"malformed CSQA entity_types: value of {key!r} must be a type id "
                f"or a list of them, got {type(ts).__name__}"
            )
        for t in ts:
            if not isinstance(t, str) or not t:
                raise ValueError(f"type of {key!r} must be a non-empty string, got {t!r}")
        builder.add_types(key, ts, override=override)
    elif role == "type_members":
        if not isinstance(value, (list, tuple)):
            raise ValueError(
                f"malformed CSQA type_members: value of {key!r} must be a list of "
                f"entities, got {type(value).__name__}"
            )
        if not isinstance(key, str) or not key:
            raise ValueError(f"type {key!r} must be a non-empty string")
        for e in value:
            if not isinstance(e, str):
                raise ValueError(f"malformed CSQA type_members: {key!r} holds a non-string {e!r}")
            builder.add_types(e, (key,))
    elif role == "type_labels":
        if not isinstance(value, str):
            raise ValueError(
                f"malformed CSQA type_labels: label of {key!r} must be a string, "
                f"got {type(value).__name__}"
            )
        builder.labels.setdefault(key, value)
    elif role == "labels":
        if not isinstance(value, str):
            raise ValueError(f"label of {key!r} must be a string, got {value!r}")
        builder.labels[key] = value
    elif role == "relation_labels":
        if not isinstance(value, str):
            raise ValueError(f"label of relation {key!r} must be a string, got {value!r}")
        builder.relation_labels[key] = value
    else:  # pragma: no cover - roles are fixed
        raise ValueError(f"unknown role {role!r}")


def _add_labels(builder: GraphBuilder, labels, relation_labels) -> None:
    for role, mapping in (("labels", labels), ("relation_labels", relation_labels)):
        for key, value in (mapping or {}).items():
            _feed(builder, role, key, value, override=-1)


class _EntitySet(AbstractSet):
    """The graph's entities as a read-only set view over the interned ids."""

    def __init__(self, nodes: Interner, is_entity: np.ndarray):
        self._nodes, self._is_entity = nodes, is_entity
        self._len = int(is_entity.sum())

    @classmethod
    def _from_iterable(cls, it):
        return frozenset(it)

    def __contains__(self, item) -> bool:
        i = self._nodes.ids.get(item, -1) if isinstance(item, str) else -1
        return i >= 0 and bool(self._is_entity[i])

    def __iter__(self):
        names = self._nodes.names
        return (names[i] for i in np.flatnonzero(self._is_entity).tolist())

    def __len__(self) -> int:
        return self._len

    def __repr__(self) -> str:
        return f"<{self._len} entities>"
