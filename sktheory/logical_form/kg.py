"""An in-memory, indexed knowledge graph with CSQA-JSON and rdflib constructors."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

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

    Raises
    ------
    TypeError
        If ``triples`` is not an iterable of triples (None, a string, a dict).
    ValueError
        If a triple, type or label is malformed.

    Attributes
    ----------
    entities : frozenset of str
        Every entity that occurs in a triple or has a type.
    relations : frozenset of str
        Every relation.
    types : frozenset of str
        Every type.

    See Also
    --------
    KnowledgeGraph.from_csqa_json, KnowledgeGraph.from_csqa_folder,
    KnowledgeGraph.from_rdflib

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
        self._fwd: dict[str, dict[str, set[str]]] = {}
        self._rev: dict[str, dict[str, set[str]]] = {}
        self._types: dict[str, set[str]] = {}
        self._members: dict[str, set[str]] = {}
        self._labels: dict[str, str] = {}
        self._relation_labels: dict[str, str] = {}
        entities: set[str] = set()
        if isinstance(triples, (str, bytes, Mapping)) or not isinstance(triples, Iterable):
            raise TypeError(
                "KnowledgeGraph expects an iterable of (subject, relation, object) "
                f"string triples, got {type(triples).__name__}; load CSQA files with "
                "KnowledgeGraph.from_csqa_folder or from_csqa_json."
            )
        for i, triple in enumerate(triples):
            if not isinstance(triple, (tuple, list)) or len(triple) != 3:
                raise ValueError(f"triple {i} must be (subject, relation, object), got {triple!r}")
            s, r, o = triple
            for name, value in (("subject", s), ("relation", r), ("object", o)):
                if not isinstance(value, str) or not value:
                    raise ValueError(
                        f"triple {i}: {name} must be a non-empty string, got {value!r}"
                    )
            self._fwd.setdefault(r, {}).setdefault(s, set()).add(o)
            self._rev.setdefault(r, {}).setdefault(o, set()).add(s)
            entities.update((s, o))
        for entity, types in (entity_types or {}).items():
            if isinstance(types, str):
                types = (types,)
            for t in types:
                if not isinstance(t, str) or not t:
                    raise ValueError(f"type of {entity!r} must be a non-empty string, got {t!r}")
                self._types.setdefault(entity, set()).add(t)
                self._members.setdefault(t, set()).add(entity)
            entities.add(entity)
        for key, value in (labels or {}).items():
            if not isinstance(value, str):
                raise ValueError(f"label of {key!r} must be a string, got {value!r}")
            self._labels[key] = value
        for key, value in (relation_labels or {}).items():
            if not isinstance(value, str):
                raise ValueError(f"label of relation {key!r} must be a string, got {value!r}")
            self._relation_labels[key] = value
        self.entities = frozenset(entities)
        self.relations = frozenset(self._fwd) | frozenset(self._relation_labels)
        self.types = frozenset(self._members)
        self._by_label: dict[str, list[str]] | None = None
        self._incident: dict[str, frozenset[str]] | None = None

    def __deepcopy__(self, memo):
        # The graph is never modified after construction, so copies (as
        # scikit-learn's clone makes of parameters) can share it.
        return self

    # ------------------------------------------------------------------ look-ups
    def objects(self, subject: str, relation: str) -> frozenset[str] | set[str]:
        """Objects ``o`` of triples ``(subject, relation, o)``."""
        return self._fwd.get(relation, {}).get(subject, frozenset())

    def subjects(self, obj: str, relation: str) -> frozenset[str] | set[str]:
        """Subjects ``s`` of triples ``(s, relation, obj)``."""
        return self._rev.get(relation, {}).get(obj, frozenset())

    def types_of(self, entity: str) -> frozenset[str] | set[str]:
        """Types of an entity (empty if it has none)."""
        return self._types.get(entity, frozenset())

    def members(self, type_: str) -> frozenset[str] | set[str]:
        """Entities of a type."""
        return self._members.get(type_, frozenset())

    def relations_of(self, entity: str) -> frozenset[str]:
        """Relations of the triples the entity takes part in (either side).

        The entity's neighbourhood, from which :func:`candidate_symbols` draws
        relation candidates without reading a turn's annotations.
        """
        if self._incident is None:
            index: dict[str, set[str]] = {}
            for by_side in (self._fwd, self._rev):
                for r, by_entity in by_side.items():
                    for e in by_entity:
                        index.setdefault(e, set()).add(r)
            self._incident = {e: frozenset(rs) for e, rs in index.items()}
        return self._incident.get(entity, frozenset())

    def label(self, identifier: str) -> str:
        """Label of an entity, type or relation (the identifier if none)."""
        if identifier in self._labels:
            return self._labels[identifier]
        return self._relation_labels.get(identifier, identifier)

    def find_by_label(self, label: str) -> list[str]:
        """Entities and types whose label is ``label`` (case-insensitive)."""
        if self._by_label is None:
            index: dict[str, list[str]] = {}
            for key, value in self._labels.items():
                index.setdefault(value.casefold(), []).append(key)
            self._by_label = index
        return sorted(self._by_label.get(label.casefold(), []))

    def triples(self):
        """Iterate over every ``(subject, relation, object)`` triple, sorted."""
        for r in sorted(self._fwd):
            for s in sorted(self._fwd[r]):
                for o in sorted(self._fwd[r][s]):
                    yield s, r, o

    @property
    def n_triples(self) -> int:
        """Number of triples."""
        return sum(len(objs) for by_s in self._fwd.values() for objs in by_s.values())

    @property
    def labels(self) -> dict[str, str]:
        """Labels of entities and types (a copy)."""
        return dict(self._labels)

    @property
    def relation_labels(self) -> dict[str, str]:
        """Labels of relations (a copy)."""
        return dict(self._relation_labels)

    @property
    def entity_types(self) -> dict[str, set[str]]:
        """Entity -> set of types (a copy)."""
        return {e: set(t) for e, t in self._types.items()}

    def check_symbol(self, category: str, identifier: str) -> None:
        """Raise :class:`UnknownSymbolError` unless the graph knows the identifier.

        ``category`` is ``"entity"``, ``"relation"`` or ``"type"``.
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
            subject -> relation -> list of objects (``wikidata_short_*.json``).
        reverse : dict, optional
            object -> relation -> list of subjects (``comp_wikidata_rev.json``);
            its triples are added to the forward ones (CSQA's reverse map holds
            triples missing from the forward files).
        labels : dict, optional
            entity or type -> label (``items_wikidata_n.json``).
        entity_types : dict, optional
            entity -> type or list of types (``child_par_dict_save.json``).
        type_members : dict, optional
            type -> list of entities (``par_child_dict.json``).
        relation_labels : dict, optional
            relation -> label (``filtered_property_wikidata4.json``).
        type_labels : dict, optional
            type -> label (``child_par_dict_name_2_corr.json``); merged into
            ``labels`` (a label there wins).

        Raises
        ------
        ValueError
            If a dictionary does not have the nesting described above; the
            message names the dictionary and the offending key.
        """
        triples: list[tuple[str, str, str]] = []
        for s, r, o in _nested_triples(forward, "forward"):
            triples.append((s, r, o))
        if reverse is not None:
            for o, r, s in _nested_triples(reverse, "reverse"):
                triples.append((s, r, o))
        types: dict[str, set[str]] = {}
        if entity_types is not None:
            _require_mapping(entity_types, "entity_types")
            for e, ts in entity_types.items():
                ts = [ts] if isinstance(ts, str) else ts
                if not isinstance(ts, (list, tuple)):
                    raise ValueError(
                        f"malformed CSQA entity_types: value of {e!r} must be a type id "
                        f"or a list of them, got {type(ts).__name__}"
                    )
                types.setdefault(e, set()).update(ts)
        if type_members is not None:
            _require_mapping(type_members, "type_members")
            for t, es in type_members.items():
                if not isinstance(es, (list, tuple)):
                    raise ValueError(
                        f"malformed CSQA type_members: value of {t!r} must be a list of "
                        f"entities, got {type(es).__name__}"
                    )
                for e in es:
                    types.setdefault(e, set()).add(t)
        for name, mapping in (
            ("labels", labels),
            ("relation_labels", relation_labels),
            ("type_labels", type_labels),
        ):
            if mapping is not None:
                _require_mapping(mapping, name)
        if type_labels:
            for t, text in type_labels.items():
                if not isinstance(text, str):
                    raise ValueError(
                        f"malformed CSQA type_labels: label of {t!r} must be a string, "
                        f"got {type(text).__name__}"
                    )
            labels = {**type_labels, **(labels or {})}
        return cls(triples, entity_types=types, labels=labels, relation_labels=relation_labels)

    @classmethod
    def from_csqa_folder(cls, path: str | os.PathLike) -> KnowledgeGraph:
        """Load CSQA's knowledge-graph files from a folder.

        The folder must hold at least one forward file (see
        :data:`CSQA_KG_FILES`); the others are optional.

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
        loaded: dict[str, dict] = {}
        for role, names in CSQA_KG_FILES.items():
            for name in names:
                file = folder / name
                if not file.exists():
                    continue
                try:
                    data = json.loads(file.read_text("utf-8"))
                except json.JSONDecodeError as exc:
                    raise ValueError(f"malformed CSQA JSON in {file}: {exc}") from None
                except UnicodeDecodeError as exc:
                    raise ValueError(
                        f"knowledge-graph file {file} is not valid UTF-8: {exc}"
                    ) from None
                if not isinstance(data, dict):
                    raise ValueError(
                        f"malformed CSQA JSON in {file}: expected an object at the top, "
                        f"got {type(data).__name__}"
                    )
                loaded.setdefault(role, {})
                _merge(loaded[role], data)
        if "forward" not in loaded:
            raise FileNotFoundError(
                f"{folder} holds no forward knowledge-graph file "
                f"({' or '.join(CSQA_KG_FILES['forward'])})"
            )
        try:
            return cls.from_csqa_json(**loaded)
        except ValueError as exc:
            raise ValueError(f"{folder}: {exc}") from None

    def to_csqa_json(self) -> dict[str, dict]:
        """The graph as CSQA's dictionaries, keyed by the file names to write."""
        forward: dict[str, dict[str, list[str]]] = {}
        reverse: dict[str, dict[str, list[str]]] = {}
        for s, r, o in self.triples():
            forward.setdefault(s, {}).setdefault(r, []).append(o)
            reverse.setdefault(o, {}).setdefault(r, []).append(s)
        # CSQA gives one type per entity (a string); several stay a list.
        ent_types = {
            e: (next(iter(ts)) if len(ts) == 1 else sorted(ts))
            for e, ts in sorted(self._types.items())
        }
        members = {t: sorted(es) for t, es in sorted(self._members.items())}
        type_labels = {t: self._labels[t] for t in sorted(self._members) if t in self._labels}
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
        """Write the graph as CSQA's JSON files into a folder (created if needed)."""
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
        namespace : str, optional
            Prefix stripped from URIs to make identifiers (``"http://x/Q1"`` ->
            ``"Q1"`` for ``namespace="http://x/"``); URIs outside it keep their
            full text. Without it, identifiers are the full URIs.
        type_predicate, label_predicate : str, optional
            Full URIs of the typing and labelling predicates.
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
        """The graph as an :class:`rdflib.Graph`; identifiers are prefixed with
        ``namespace``."""
        from rdflib import Graph, Literal, URIRef
        from rdflib.namespace import RDF, RDFS

        type_p = URIRef(type_predicate) if type_predicate else RDF.type
        label_p = URIRef(label_predicate) if label_predicate else RDFS.label
        g = Graph()
        for s, r, o in self.triples():
            g.add((URIRef(namespace + s), URIRef(namespace + r), URIRef(namespace + o)))
        for e, ts in self._types.items():
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


def _nested_triples(mapping, name: str):
    # CSQA's relation maps are node -> relation -> list of nodes.
    _require_mapping(mapping, name)
    for a, rels in mapping.items():
        if not isinstance(rels, Mapping):
            raise ValueError(
                f"malformed CSQA {name} map: value of {a!r} must be an object "
                f"relation -> list of entities, got {type(rels).__name__}"
            )
        for r, bs in rels.items():
            if isinstance(bs, str) or not isinstance(bs, (list, tuple)):
                raise ValueError(
                    f"malformed CSQA {name} map: {a!r} -> {r!r} must be a list of "
                    f"entities, got {type(bs).__name__}"
                )
            for b in bs:
                if not isinstance(b, str):
                    raise ValueError(
                        f"malformed CSQA {name} map: {a!r} -> {r!r} holds a non-string {b!r}"
                    )
                yield a, r, b


def _merge(into: dict, data: dict) -> None:
    for key, value in data.items():
        if key in into and isinstance(into[key], dict) and isinstance(value, dict):
            for k2, v2 in value.items():
                if k2 in into[key] and isinstance(v2, list):
                    into[key][k2] = list(into[key][k2]) + [x for x in v2 if x not in into[key][k2]]
                else:
                    into[key][k2] = v2
        else:
            into[key] = value
