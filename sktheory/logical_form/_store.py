"""Compact storage behind :class:`~sktheory.logical_form.KnowledgeGraph`.

Identifiers are interned to integer ids once; triples live in sorted
CSR-style adjacency arrays (numpy), one block of rows per relation and
direction, so a graph of tens of millions of triples costs a few bytes per
triple instead of the hundreds that Python sets of strings take. CSQA's
multi-gigabyte JSON dictionaries are read by :func:`iter_json_object`, which
decodes one top-level entry at a time.
"""

from __future__ import annotations

import json
import os
from array import array
from collections.abc import Iterator

import numpy as np

__all__ = ["Adjacency", "GraphBuilder", "Interner", "iter_json_object"]


class Interner:
    """A two-way map between identifier strings and consecutive integer ids.

    Examples
    --------
    >>> from sktheory.logical_form._store import Interner
    >>> names = Interner()
    >>> names.add("Q42"), names.add("Q1"), names.add("Q42")
    (0, 1, 0)
    >>> names.get("Q1"), names.get("Q7"), names.name(0), len(names)
    (1, -1, 'Q42', 2)
    """

    __slots__ = ("ids", "names")

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self.names: list[str] = []

    def add(self, name: str) -> int:
        """Id of ``name``, interning it if new.

        Parameters
        ----------
        name : str
            The identifier.

        Returns
        -------
        int
            Its id.
        """
        i = self.ids.get(name)
        if i is None:
            i = self.ids[name] = len(self.names)
            self.names.append(name)
        return i

    def get(self, name: str) -> int:
        """Id of ``name``, or -1 if it was never interned.

        Parameters
        ----------
        name : str
            The identifier.

        Returns
        -------
        int
            Its id, or -1.
        """
        return self.ids.get(name, -1)

    def name(self, i: int) -> str:
        """The identifier of id ``i``.

        Parameters
        ----------
        i : int
            An id returned by :meth:`add`.

        Returns
        -------
        str
            The identifier.
        """
        return self.names[i]

    def __len__(self) -> int:
        return len(self.names)


class Adjacency:
    """Sorted CSR adjacency of ``(group, key) -> values`` integer pairs.

    For a relation map the group is the relation, the key the subject (or the
    object, for the reverse direction) and the values the other side. Rows of
    one group are contiguous: ``keys[group_ptr[g]:group_ptr[g + 1]]`` are the
    group's keys, sorted; row ``j`` holds ``values[indptr[j]:indptr[j + 1]]``,
    sorted and without duplicates.

    Parameters
    ----------
    groups, keys, values : array-like of int
        One entry per pair (duplicates are dropped).
    n_groups : int
        Number of groups (ids run from 0 to ``n_groups - 1``).
    n_nodes : int
        Number of key/value ids (an upper bound on every key and value + 1).

    Examples
    --------
    >>> from sktheory.logical_form._store import Adjacency
    >>> adj = Adjacency([0, 0, 1, 0], [5, 5, 5, 2], [7, 3, 3, 7], n_groups=2, n_nodes=8)
    >>> adj.row(0, 5).tolist(), adj.row(1, 5).tolist(), adj.row(1, 2).tolist(), adj.n_values
    ([3, 7], [3], [], 4)
    """

    __slots__ = ("group_ptr", "indptr", "keys", "values")

    def __init__(self, groups, keys, values, *, n_groups: int, n_nodes: int) -> None:
        g = np.asarray(groups, dtype=np.int64)
        k = np.asarray(keys, dtype=np.int64)
        v = np.asarray(values, dtype=np.int64)
        n = max(int(n_nodes), 1)
        if n_groups * n * n < 2**62:  # one int64 sort key when it fits
            code = (g * n + k) * n + v
            code.sort()
            if code.size:
                code = code[np.concatenate(([True], code[1:] != code[:-1]))]
            gk, v = np.divmod(code, n)
            g, k = np.divmod(gk, n)
            del code
        else:  # pragma: no cover - only for more than ~10^8 ids
            order = np.lexsort((v, k, g))
            g, k, v = g[order], k[order], v[order]
            if g.size:
                keep = np.concatenate(
                    ([True], (g[1:] != g[:-1]) | (k[1:] != k[:-1]) | (v[1:] != v[:-1]))
                )
                g, k, v = g[keep], k[keep], v[keep]
            gk = g * n + k
        self.values = v.astype(np.int32)
        starts = np.flatnonzero(np.concatenate(([True], gk[1:] != gk[:-1]))) if gk.size else gk
        self.keys = k[starts].astype(np.int32)
        self.indptr = np.append(starts, gk.size).astype(np.int64)
        self.group_ptr = np.searchsorted(g[starts], np.arange(n_groups + 1)).astype(np.int64)

    @property
    def n_values(self) -> int:
        """Number of stored pairs.

        Returns
        -------
        int
            The number of distinct ``(group, key, value)`` entries.
        """
        return int(self.values.size)

    def _find(self, group: int, key: int) -> int:
        lo, hi = int(self.group_ptr[group]), int(self.group_ptr[group + 1])
        j = lo + int(np.searchsorted(self.keys[lo:hi], key))
        return j if j < hi and self.keys[j] == key else -1

    def row(self, group: int, key: int) -> np.ndarray:
        """Values of ``(group, key)``, sorted (empty if none).

        Parameters
        ----------
        group : int
            The group (relation) id.
        key : int
            The key (node) id.

        Returns
        -------
        numpy.ndarray of int32
            A read-only view of the row.
        """
        j = self._find(group, key)
        if j < 0:
            return self.values[:0]
        return self.values[self.indptr[j] : self.indptr[j + 1]]

    def group_keys(self, group: int) -> np.ndarray:
        """Keys that have a row in ``group``, sorted.

        Parameters
        ----------
        group : int
            The group (relation) id.

        Returns
        -------
        numpy.ndarray of int32
            A view of the group's keys.
        """
        return self.keys[self.group_ptr[group] : self.group_ptr[group + 1]]

    def key_groups(self) -> tuple[np.ndarray, np.ndarray]:
        """Every ``(key, group)`` pair that has a row.

        Returns
        -------
        keys : numpy.ndarray of int32
            Key of each row.
        groups : numpy.ndarray of int64
            Group of each row.
        """
        counts = np.diff(self.group_ptr)
        return self.keys, np.repeat(np.arange(counts.size), counts)

    @property
    def nbytes(self) -> int:
        """Bytes held by the arrays.

        Returns
        -------
        int
            Total size of the index arrays.
        """
        return sum(a.nbytes for a in (self.group_ptr, self.indptr, self.keys, self.values))


class GraphBuilder:
    """Accumulates triples, types and labels as integer ids, then freezes them.

    Identifiers are interned as they arrive and the pairs kept in
    :class:`array.array` buffers (4 bytes an id), so streaming a large graph
    never holds a Python object per triple.

    Types given with ``override`` set replace those of an earlier
    ``override`` source for the same entity (CSQA's two entity -> type files
    are merged that way); other types are added.

    Examples
    --------
    >>> from sktheory.logical_form._store import GraphBuilder
    >>> b = GraphBuilder()
    >>> b.add_triple("Q1", "P17", "Q2")
    >>> b.add_types("Q2", ["Q6256"])
    >>> fwd, rev, types, members, is_entity = b.freeze()
    >>> b.nodes.name(int(fwd.row(b.relations.get("P17"), b.nodes.get("Q1"))[0]))
    'Q2'
    """

    def __init__(self) -> None:
        self.nodes = Interner()
        self.relations = Interner()
        self._s, self._r, self._o = array("i"), array("i"), array("i")
        self._te, self._tt, self._tsrc = array("i"), array("i"), array("i")
        self._entities = array("i")
        self.labels: dict[int, str] = {}
        self.relation_labels: dict[str, str] = {}

    def add_triple(self, subject: str, relation: str, obj: str) -> None:
        """Add one ``(subject, relation, object)`` triple.

        Parameters
        ----------
        subject, relation, obj : str
            The triple's identifiers.
        """
        node = self.nodes.add
        self._s.append(node(subject))
        self._r.append(self.relations.add(relation))
        self._o.append(node(obj))

    def add_objects(self, subject: str, relation: str, objects) -> None:
        """Add the triples ``(subject, relation, o)`` for every ``o`` of ``objects``.

        Parameters
        ----------
        subject, relation : str
            Shared subject and relation.
        objects : iterable of str
            The objects.
        """
        node = self.nodes.add
        ids = [node(o) for o in objects]
        self._o.extend(ids)
        self._s.extend([node(subject)] * len(ids))
        self._r.extend([self.relations.add(relation)] * len(ids))

    def add_types(self, entity: str, types, *, override: int = -1) -> None:
        """Give ``entity`` the ``types``.

        Parameters
        ----------
        entity : str
            The entity (it counts as an entity of the graph).
        types : iterable of str
            Its types.
        override : int, default=-1
            Source index; for indices >= 0, the entity keeps only the types of
            its highest source (later files win), plus those added with -1.
        """
        e = self.nodes.add(entity)
        self._entities.append(e)
        for t in types:
            self._te.append(e)
            self._tt.append(self.nodes.add(t))
            self._tsrc.append(override)

    def freeze(self):
        """Sort the buffers into adjacency arrays.

        Returns
        -------
        fwd, rev : Adjacency
            relation -> subject -> objects and relation -> object -> subjects.
        types, members : Adjacency
            entity -> types and type -> entities (one group).
        is_entity : numpy.ndarray of bool
            Whether each node id is an entity (in a triple or typed).
        """
        n, n_rel = len(self.nodes), len(self.relations)
        s = np.frombuffer(self._s, dtype=np.int32)
        r = np.frombuffer(self._r, dtype=np.int32)
        o = np.frombuffer(self._o, dtype=np.int32)
        fwd = Adjacency(r, s, o, n_groups=n_rel, n_nodes=n)
        rev = Adjacency(r, o, s, n_groups=n_rel, n_nodes=n)
        is_entity = np.zeros(n, dtype=bool)
        is_entity[s] = True
        is_entity[o] = True
        is_entity[np.frombuffer(self._entities, dtype=np.int32)] = True
        del s, r, o
        self._s = self._r = self._o = array("i")
        te = np.frombuffer(self._te, dtype=np.int32).astype(np.int64)
        tt = np.frombuffer(self._tt, dtype=np.int32).astype(np.int64)
        src = np.frombuffer(self._tsrc, dtype=np.int32).astype(np.int64)
        if te.size and src.max() >= 0:
            latest = np.full(n, -1, dtype=np.int64)
            np.maximum.at(latest, te, src)
            keep = (src < 0) | (src == latest[te])
            te, tt = te[keep], tt[keep]
        zeros = np.zeros(te.size, dtype=np.int64)
        types = Adjacency(zeros, te, tt, n_groups=1, n_nodes=n)
        members = Adjacency(zeros, tt, te, n_groups=1, n_nodes=n)
        return fwd, rev, types, members, is_entity


def iter_json_object(path: str | os.PathLike, *, chunk_size: int = 1 << 22) -> Iterator:
    """Decode a JSON file holding one object, one top-level entry at a time.

    Only one entry's value is decoded at once, so memory stays proportional
    to the largest entry rather than to the file (CSQA's graph files are
    several gigabytes of ``key: {...}`` entries).

    Parameters
    ----------
    path : str or os.PathLike
        The file (UTF-8).
    chunk_size : int, default=4194304
        Characters read at a time.

    Yields
    ------
    key : str
        A top-level key.
    value : object
        Its decoded value.

    Raises
    ------
    ValueError
        If the file is not a JSON object (the top level is something else,
        or the text is malformed or truncated); the message starts with
        ``"malformed CSQA JSON in <path>"`` or says what the top level is.
    UnicodeDecodeError
        If the file is not UTF-8.

    Examples
    --------
    >>> import json, tempfile, os
    >>> from sktheory.logical_form._store import iter_json_object
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = os.path.join(d, "f.json")
    ...     _ = open(p, "w").write(json.dumps({"Q1": {"P1": ["Q2"]}, "Q3": {}}))
    ...     list(iter_json_object(p, chunk_size=4))
    [('Q1', {'P1': ['Q2']}), ('Q3', {})]
    """
    decoder = json.JSONDecoder()
    with open(path, encoding="utf-8") as f:
        buf, pos, eof = "", 0, False

        def more(need_all: bool = False) -> bool:
            nonlocal buf, pos, eof
            if eof:
                return False
            text = f.read(max(chunk_size, len(buf) - pos) if need_all else chunk_size)
            if not text:
                eof = True
                return False
            buf = buf[pos:] + text
            pos = 0
            return True

        def skip() -> str:
            nonlocal pos
            while True:
                while pos < len(buf) and buf[pos] in " \t\n\r":
                    pos += 1
                if pos < len(buf):
                    return buf[pos]
                if not more():
                    return ""

        def bad(why: str):
            return ValueError(f"malformed CSQA JSON in {path}: {why}")

        def value():
            nonlocal pos
            while True:
                try:
                    out, end = decoder.raw_decode(buf, pos)
                    if end < len(buf) or eof:  # a number could go on in the next chunk
                        pos = end
                        return out
                except json.JSONDecodeError as exc:
                    if eof:
                        raise bad(str(exc)) from None
                more(need_all=True)  # at the end of the file, the next try decides

        first = skip()
        if first != "{":
            if first == "":
                raise bad("the file is empty")
            top = value()
            raise ValueError(
                f"malformed CSQA JSON in {path}: expected an object at the top, "
                f"got {type(top).__name__}"
            )
        pos += 1
        if skip() == "}":
            return
        while True:
            if skip() != '"':
                raise bad(f"expected a key at character {pos}")
            key = value()
            if skip() != ":":
                raise bad(f"expected ':' after key {key!r}")
            pos += 1
            if skip() == "":
                raise bad("the file ends inside an object")
            yield key, value()
            c = skip()
            pos += 1
            if c == "}":
                if skip() != "":
                    raise bad("extra data after the top-level object")
                return
            if c != ",":
                raise bad(f"expected ',' or '}}' after the value of {key!r}")
