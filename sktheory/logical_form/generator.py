"""Seeded synthetic Wikidata-like graphs and CSQA-style conversations over them.

:func:`make_knowledge_graph` builds a typed graph (humans, countries, cities,
rivers, films, books, ...) with about thirty Wikidata relations between them
and labels; a few entities share a label, as homonyms do, which the
clarification questions use. :func:`make_dialogs` writes conversations over it
in CSQA's dialog format, covering every CSQA question type, each user turn with
its gold logical form and the system turn with the gold answer.
:func:`make_dataset` flattens them into self-contained turns, answers and gold
forms. The text of the utterances is template English; what matters is the
CSQA annotation (linked entities, relations, types, numbers) and the answers.
"""

from __future__ import annotations

import numpy as np

from .csqa import QUESTION_TYPES, dialog_to_turns
from .executor import Executor, to_answer
from .grammar import Entity, Number, Op, Reference, Relation, Type
from .kg import KnowledgeGraph

__all__ = ["make_dataset", "make_dialogs", "make_knowledge_graph"]

# (id, label, share of the entities)
_TYPES = [
    ("Q5", "person", 0.30),
    ("Q6256", "country", 0.05),
    ("Q515", "city", 0.10),
    ("Q4022", "river", 0.05),
    ("Q11424", "film", 0.12),
    ("Q571", "book", 0.10),
    ("Q43229", "organization", 0.06),
    ("Q3918", "university", 0.04),
    ("Q34770", "language", 0.03),
    ("Q201658", "film genre", 0.02),
    ("Q618779", "award", 0.03),
    ("Q28640", "occupation", 0.03),
    ("Q5107", "continent", 0.01),
    ("Q482994", "album", 0.06),
]
_TYPE_LABEL = {t: label for t, label, _ in _TYPES}

# (id, label, domain, range, min out-degree, max out-degree)
_RELATIONS = [
    ("P27", "country of citizenship", "Q5", "Q6256", 1, 2),
    ("P19", "place of birth", "Q5", "Q515", 1, 1),
    ("P20", "place of death", "Q5", "Q515", 0, 1),
    ("P106", "occupation", "Q5", "Q28640", 1, 3),
    ("P69", "educated at", "Q5", "Q3918", 0, 2),
    ("P26", "spouse", "Q5", "Q5", 0, 1),
    ("P40", "child", "Q5", "Q5", 0, 3),
    ("P3373", "sibling", "Q5", "Q5", 0, 2),
    ("P108", "employer", "Q5", "Q43229", 0, 2),
    ("P166", "award received", "Q5", "Q618779", 0, 3),
    ("P1411", "nominated for", "Q5", "Q618779", 0, 2),
    ("P1412", "languages spoken", "Q5", "Q34770", 1, 3),
    ("P17", "country", "Q515", "Q6256", 1, 1),
    ("P131", "located in", "Q3918", "Q515", 1, 1),
    ("P47", "shares border with", "Q6256", "Q6256", 1, 4),
    ("P36", "capital", "Q6256", "Q515", 1, 1),
    ("P37", "official language", "Q6256", "Q34770", 1, 2),
    ("P30", "continent", "Q6256", "Q5107", 1, 1),
    ("P205", "basin country", "Q4022", "Q6256", 1, 3),
    ("P403", "mouth of the watercourse", "Q4022", "Q4022", 0, 1),
    ("P57", "director", "Q11424", "Q5", 1, 1),
    ("P161", "cast member", "Q11424", "Q5", 1, 5),
    ("P136", "genre", "Q11424", "Q201658", 1, 2),
    ("P495", "country of origin", "Q11424", "Q6256", 1, 1),
    ("P364", "original language", "Q11424", "Q34770", 1, 1),
    ("P50", "author", "Q571", "Q5", 1, 2),
    ("P123", "publisher", "Q571", "Q43229", 1, 1),
    ("P407", "language of work", "Q571", "Q34770", 1, 1),
    ("P159", "headquarters location", "Q43229", "Q515", 1, 1),
    ("P112", "founded by", "Q43229", "Q5", 0, 2),
    ("P175", "performer", "Q482994", "Q5", 1, 1),
    ("P264", "record label", "Q482994", "Q43229", 0, 1),
]
_REL = {r[0]: r for r in _RELATIONS}

_SYLLABLES = (
    "ka ri mo ne ta lu vi so ra en dor bel mar fin gal tor ven sil ark lo na "
    "be zu ha ki pe ol um is an ye qua rho sta".split()
)
_SUFFIX = {
    "Q4022": " River",
    "Q43229": " Group",
    "Q3918": " University",
    "Q618779": " Prize",
    "Q201658": " drama",
    "Q482994": " (album)",
}


def _word(rng, n_min=2, n_max=3) -> str:
    k = int(rng.integers(n_min, n_max + 1))
    return "".join(rng.choice(_SYLLABLES, size=k)).capitalize()


def make_knowledge_graph(
    n_entities: int = 600, *, homonym_rate: float = 0.05, random_state: int | None = 0
) -> KnowledgeGraph:
    """A seeded synthetic Wikidata-like knowledge graph.

    Parameters
    ----------
    n_entities : int, default=600
        Approximate number of entities (split over 14 types; at least 2 per
        type).
    homonym_rate : float, default=0.05
        Share of entities that receive the label of another entity of the
        same type (the ambiguity clarification questions resolve).
    random_state : int or None, default=0
        Seed of the generator; None draws fresh entropy.

    Returns
    -------
    KnowledgeGraph
        With 32 relations, Wikidata-style ids (``Q5`` person, ``P27``
        country of citizenship, ...) and labels; entities are ``Q1000000``
        onwards.

    Examples
    --------
    >>> from sktheory.logical_form import make_knowledge_graph
    >>> kg = make_knowledge_graph(200, random_state=0)
    >>> len(kg.types), len(kg.relations)
    (14, 32)
    """
    if not isinstance(n_entities, (int, np.integer)) or n_entities < 28:
        raise ValueError(f"n_entities must be an integer >= 28, got {n_entities!r}")
    if not 0 <= homonym_rate < 0.5:
        raise ValueError(f"homonym_rate must be in [0, 0.5), got {homonym_rate!r}")
    rng = np.random.default_rng(random_state)
    members: dict[str, list[str]] = {}
    labels: dict[str, str] = {}
    entity_types: dict[str, str] = {}
    next_id = 1000000
    for t, tlabel, share in _TYPES:
        labels[t] = tlabel
        count = max(2, int(round(share * n_entities)))
        members[t] = []
        for _ in range(count):
            e = f"Q{next_id}"
            next_id += 1
            if t == "Q5":
                name = f"{_word(rng)} {_word(rng)}"
            else:
                name = _word(rng) + _SUFFIX.get(t, "")
            labels[e] = name
            entity_types[e] = t
            members[t].append(e)
        # Homonyms: copy the label of another entity of the same type.
        n_hom = int(round(homonym_rate * count))
        if count >= 4 and n_hom:
            picks = rng.choice(count, size=2 * n_hom, replace=False)
            for a, b in zip(picks[:n_hom], picks[n_hom:], strict=True):
                labels[members[t][int(b)]] = labels[members[t][int(a)]]
    triples = []
    for pid, _, dom, rng_t, lo, hi in _RELATIONS:
        objs = members[rng_t]
        # Zipf-like popularity, so per-entity counts vary and superlatives are
        # usually unique.
        weights = 1.0 / np.arange(1, len(objs) + 1) ** 0.8
        weights = weights[rng.permutation(len(objs))]
        weights /= weights.sum()
        for s in members[dom]:
            k = int(rng.integers(lo, hi + 1))
            k = min(k, len(objs) - (1 if dom == rng_t else 0))
            if k <= 0:
                continue
            chosen = rng.choice(len(objs), size=min(len(objs), k + 1), replace=False, p=weights)
            picked = [objs[int(i)] for i in chosen if objs[int(i)] != s][:k]
            triples += [(s, pid, o) for o in picked]
    rel_labels = {pid: label for pid, label, *_ in _RELATIONS}
    return KnowledgeGraph(
        triples, entity_types=entity_types, labels=labels, relation_labels=rel_labels
    )


# ---------------------------------------------------------------------------
# Conversations


def _f(s, r):
    return Op("find", (s, Relation(r)))


def _fr(s, r):
    return Op("find_reverse", (s, Relation(r)))


def _filt(s, t):
    return Op("filter", (s, Type(t)))


class _DialogMaker:
    def __init__(self, kg: KnowledgeGraph, rng):
        self.kg = kg
        self.rng = rng
        self.ex = Executor(kg, strict=False)
        self.schema = [r for r in _RELATIONS if r[0] in kg.relations]
        if not self.schema:
            raise ValueError("the graph has none of the generator's relations")
        self.ents = {t: sorted(kg.members(t)) for t in kg.types}

    # -- helpers
    def L(self, x):
        return self.kg.label(x)

    def plural(self, t):
        word = _TYPE_LABEL.get(t, self.L(t))
        if word.endswith("y") and not word.endswith(("ay", "ey", "oy")):
            return word[:-1] + "ies"
        return word + ("es" if word.endswith(("s", "sh")) else "s")

    def pick(self, seq):
        return seq[int(self.rng.integers(len(seq)))]

    def run(self, lf, turn=None):
        return self.ex.evaluate(lf, turn)

    def simple(self, max_tries=30):
        """A relation, direction, entity and its simple form with a non-empty answer."""
        for _ in range(max_tries):
            pid, rlabel, dom, rng_t, *_ = self.pick(self.schema)
            forward = bool(self.rng.integers(2))
            src_t, dst_t = (dom, rng_t) if forward else (rng_t, dom)
            if not self.ents.get(src_t):
                continue
            e = self.pick(self.ents[src_t])
            lf = _filt((_f if forward else _fr)(Entity(e), pid), dst_t)
            ans = self.run(lf)
            if 0 < len(ans) <= 12:
                return pid, forward, src_t, dst_t, e, lf, ans
        return None

    def ask_simple(self, pid, forward, dst_t, subject_text):
        rl = _REL[pid][1] if pid in _REL else self.L(pid)
        if forward:
            return f"Which {_TYPE_LABEL.get(dst_t, dst_t)} is the {rl} of {subject_text}?"
        return f"Which {_TYPE_LABEL.get(dst_t, dst_t)} has {subject_text} as {rl}?"

    # -- question types: each returns (user, system, lf, meta) or None
    def direct(self, prev):
        got = self.simple()
        if got is None:
            return None
        pid, fwd, src_t, dst_t, e, lf, ans = got
        user = self.user(
            "Simple Question (Direct)",
            self.ask_simple(pid, fwd, dst_t, self.L(e)),
            [e],
            [pid],
            [dst_t],
        )
        return user, self.entity_reply(ans), lf, {"simple": (pid, fwd, src_t, dst_t)}

    def coreferenced(self, prev):
        if prev is None or prev["answer_kind"] != "set" or len(prev["answer"]) != 1:
            return None
        (x,) = tuple(prev["answer"])
        types = self.kg.types_of(x)
        if not types:
            return None
        xt = sorted(types)[0]
        options = [(r[0], True, r[3]) for r in self.schema if r[2] == xt]
        options += [(r[0], False, r[2]) for r in self.schema if r[3] == xt]
        self.rng.shuffle(options)
        for pid, fwd, dst_t in options:
            lf = _filt((_f if fwd else _fr)(Reference("prev_answer"), pid), dst_t)
            ans = self.run(lf, prev["as_previous"])
            if 0 < len(ans) <= 12:
                text = self.ask_simple(pid, fwd, dst_t, f"that {_TYPE_LABEL.get(xt, xt)}")
                user = self.user("Simple Question (Coreferenced)", text, [], [pid], [dst_t])
                return user, self.entity_reply(ans), lf, {"simple": (pid, fwd, xt, dst_t)}
        return None

    def ellipsis(self, prev, qtype="Simple Question (Ellipsis)"):
        # The relation and type must be in the previous user turn, the only
        # context a self-contained turn carries.
        if prev is None or "simple" not in prev["meta"] or not prev["user"]["relations"]:
            return None
        pid, fwd, src_t, dst_t = prev["meta"]["simple"]
        used = set(prev["user"].get("entities_in_utterance", []))
        for _ in range(20):
            e = self.pick(self.ents[src_t])
            if e in used:
                continue
            lf = _filt((_f if fwd else _fr)(Entity(e), pid), dst_t)
            ans = self.run(lf)
            if 0 < len(ans) <= 12 and set(ans) != set(prev["answer"]):
                user = self.user(qtype, f"And what about {self.L(e)}?", [e], [], [])
                return (
                    user,
                    self.entity_reply(ans),
                    lf,
                    {"simple": (pid, fwd, src_t, dst_t)},
                )
        return None

    def logical(self, prev):
        for _ in range(20):
            got = self.simple()
            if got is None:
                return None
            pid, fwd, src_t, dst_t, e1, _, ans1 = got
            step = _f if fwd else _fr
            op = self.pick(["union", "inter", "diff"])
            if op == "inter":
                # An entity sharing an answer with e1, so the intersection is non-empty.
                look = self.kg.subjects if fwd else self.kg.objects
                cands = sorted({s for a in ans1 for s in look(a, pid)} - {e1})
                cands = [c for c in cands if src_t in self.kg.types_of(c)]
                if not cands:
                    continue
                e2 = self.pick(cands)
            else:
                e2 = self.pick(self.ents[src_t])
                if e2 == e1:
                    continue
            lf = _filt(Op(op, (step(Entity(e1), pid), step(Entity(e2), pid))), dst_t)
            ans = self.run(lf)
            if not 0 < len(ans) <= 15:
                continue
            word = {"union": "or", "inter": "and also of", "diff": "but not of"}[op]
            rl = _REL[pid][1]
            tl = _TYPE_LABEL[dst_t]
            if fwd:
                text = f"Which {tl} is the {rl} of {self.L(e1)} {word} {self.L(e2)}?"
            else:
                text = f"Which {tl} has {self.L(e1)} {word} {self.L(e2)} as {rl}?"
            user = self.user("Logical Reasoning (All)", text, [e1, e2], [pid], [dst_t])
            return user, self.entity_reply(ans), lf, {}
        return None

    def counts(self):
        pid, rlabel, dom, rng_t, *_ = self.pick(self.schema)
        if self.rng.integers(2):
            return (
                pid,
                Op("count_each", (Op("all", (Type(dom),)), Relation(pid), Type(rng_t))),
                dom,
                rng_t,
                True,
            )
        return (
            pid,
            Op("count_each_reverse", (Op("all", (Type(rng_t),)), Relation(pid), Type(dom))),
            rng_t,
            dom,
            False,
        )

    def quantitative(self, prev, count=False):
        for _ in range(30):
            pid, cm, t1, t2, fwd = self.counts()
            values = sorted(self.run(cm).values())
            if not values or values[-1] == 0:
                continue
            ops = ["atleast", "atmost", "equal", "greater", "less", "approx"]
            if not count:
                ops += ["argmax", "argmin"] * 2
            op = self.pick(ops)
            if op in ("argmax", "argmin"):
                lf, n = Op(op, (cm,)), None
            else:
                n = int(self.pick(values[len(values) // 2 :]))
                lf = Op(op, (cm, Number(n)))
            ans = self.run(lf)
            if not 0 < len(ans) <= (40 if count else 15):
                continue
            phrase = {
                "argmax": "the most",
                "argmin": "the fewest",
                "atleast": f"at least {n}",
                "atmost": f"at most {n}",
                "equal": f"exactly {n}",
                "greater": f"more than {n}",
                "less": f"less than {n}",
                "approx": f"approximately {n}",
            }[op]
            rl = _REL[pid][1]
            head = "How many" if count else "Which"
            text = f"{head} {self.plural(t1)} have {phrase} {self.plural(t2)} as {rl}?"
            qtype = (
                "Quantitative Reasoning (Count) (All)" if count else "Quantitative Reasoning (All)"
            )
            if count:
                lf = Op("count", (lf,))
                ans = len(ans)
            user = self.user(qtype, text, [], [pid], [t1, t2])
            return user, self.reply(ans), lf, {}
        return None

    def comparative(self, prev, count=False):
        for _ in range(30):
            pid, cm, t1, t2, fwd = self.counts()
            if not self.ents.get(t1):
                continue
            e = self.pick(self.ents[t1])
            ref = Op("count", (_filt((_f if fwd else _fr)(Entity(e), pid), t2),))
            if self.run(ref) == 0:
                continue
            op = self.pick(["greater", "less"])
            lf = Op(op, (cm, ref))
            ans = self.run(lf)
            if not 0 < len(ans) <= (60 if count else 15):
                continue
            word = "more" if op == "greater" else "fewer"
            head = "How many" if count else "Which"
            rl = _REL[pid][1]
            text = (
                f"{head} {self.plural(t1)} have {word} {self.plural(t2)} as {rl} than {self.L(e)}?"
            )
            qtype = (
                "Comparative Reasoning (Count) (All)" if count else "Comparative Reasoning (All)"
            )
            if count:
                lf = Op("count", (lf,))
                ans = len(ans)
            user = self.user(qtype, text, [e], [pid], [t1, t2])
            return user, self.reply(ans), lf, {}
        return None

    def quantitative_count(self, prev):
        # Half simple counts (possibly with a set operator), half counts of a
        # comparison over per-entity counts.
        if self.rng.integers(2):
            return self.quantitative(prev, count=True)
        got = self.simple()
        if got is None:
            return None
        pid, fwd, src_t, dst_t, e, lf, ans = got
        rl = _REL[pid][1]
        tl = self.plural(dst_t)
        text = (
            f"How many {tl} are the {rl} of {self.L(e)}?"
            if fwd
            else f"How many {tl} have {self.L(e)} as {rl}?"
        )
        user = self.user("Quantitative Reasoning (Count) (All)", text, [e], [pid], [dst_t])
        return user, self.reply(len(ans)), Op("count", (lf,)), {}

    def comparative_count(self, prev):
        return self.comparative(prev, count=True)

    def verification(self, prev):
        got = self.simple()
        if got is None:
            return None
        pid, fwd, src_t, dst_t, e, lf, ans = got
        truth = bool(self.rng.integers(2))
        if truth:
            x = self.pick(sorted(ans))
        else:
            others = sorted(set(self.ents[dst_t]) - set(ans))
            if not others:
                return None
            x = self.pick(others)
        form = Op("is_in", (Entity(x), lf))
        rl = _REL[pid][1]
        text = (
            f"Is {self.L(x)} the {rl} of {self.L(e)}?"
            if fwd
            else f"Does {self.L(x)} have {self.L(e)} as {rl}?"
        )
        user = self.user("Verification (Boolean) (All)", text, [e, x], [pid], [dst_t])
        return user, self.reply(bool(self.run(form))), form, {}

    def clarification(self, prev):
        """Two pairs in CSQA's convention: the ambiguous question (typed
        "Clarification", annotated with the intended entity) answered by "Did
        you mean X ?", then the user's "Yes" / "No, I meant Y. ..." answered
        with the real answer."""
        for _ in range(30):
            got = self.simple()
            if got is None:
                return None
            pid, fwd, src_t, dst_t, right, lf, ans = got
            twins = [
                e
                for e in self.kg.find_by_label(self.L(right))
                if e != right and src_t in self.kg.types_of(e)
            ]
            if not twins:
                continue
            wrong = self.pick(twins)
            wrong_ans = self.run(_filt((_f if fwd else _fr)(Entity(wrong), pid), dst_t))
            if set(wrong_ans) == set(ans):
                continue
            amb = self.user(
                "Clarification",
                self.ask_simple(pid, fwd, dst_t, self.L(right)),
                [right],
                [pid],
                [dst_t],
            )
            guess_right = bool(self.rng.integers(2))
            guess = right if guess_right else wrong
            ask = {
                "speaker": "SYSTEM",
                "utterance": f"Did you mean {self.L(guess)} ?",
                "entities_in_utterance": [guess],
                "all_entities": sorted({right, wrong}),
            }
            resolution = {
                "speaker": "USER",
                "question-type": "Simple Question (Direct)",
                "utterance": "Yes",
            }
            if not guess_right:
                resolution["utterance"] = (
                    f"No, I meant {self.L(right)}. Could you tell me the answer for that?"
                )
                resolution["entities"] = [right]
            return (amb, ask), (
                resolution,
                self.entity_reply(ans),
                lf,
                {"simple": (pid, fwd, src_t, dst_t)},
            )
        return None

    # -- turns
    def user(self, qtype, text, ents, rels, types):
        return {
            "speaker": "USER",
            "question-type": qtype,
            "utterance": text,
            "entities_in_utterance": list(ents),
            "relations": list(rels),
            "type_list": list(types),
        }

    def entity_reply(self, ans):
        ids = sorted(ans)
        shown = ", ".join(self.L(i) for i in ids[:5]) + (" and others" if len(ids) > 5 else "")
        return {"speaker": "SYSTEM", "utterance": shown, "all_entities": ids}

    def reply(self, ans):
        if isinstance(ans, bool):
            text = "YES" if ans else "NO"
        elif isinstance(ans, int):
            text = str(ans)
        else:
            return self.entity_reply(ans)
        return {"speaker": "SYSTEM", "utterance": text, "all_entities": []}


_MAKERS = {
    "Simple Question (Direct)": "direct",
    "Simple Question (Coreferenced)": "coreferenced",
    "Simple Question (Ellipsis)": "ellipsis",
    "Logical Reasoning (All)": "logical",
    "Quantitative Reasoning (All)": "quantitative",
    "Comparative Reasoning (All)": "comparative",
    "Quantitative Reasoning (Count) (All)": "quantitative_count",
    "Comparative Reasoning (Count) (All)": "comparative_count",
    "Verification (Boolean) (All)": "verification",
    "Clarification": "clarification",
}


def make_dialogs(
    kg: KnowledgeGraph,
    n_dialogs: int = 20,
    *,
    n_turns: int = 8,
    question_types=None,
    random_state: int | None = 0,
) -> tuple[list[list[dict]], list[list]]:
    """Seeded conversations over a graph in CSQA's dialog format.

    Question types are drawn so that every type of ``question_types`` (all of
    CSQA's by default) is about equally frequent; context-dependent types
    (coreference, ellipsis) follow a turn they can refer to, and a
    clarification is an exchange of two pairs in CSQA's convention (see
    :mod:`.csqa`).

    Parameters
    ----------
    kg : KnowledgeGraph
        Usually from :func:`make_knowledge_graph` (its relations and types).
    n_dialogs : int, default=20
        Number of dialogs.
    n_turns : int, default=8
        User/system pairs per dialog (a clarification adds one).
    question_types : sequence of str, optional
        Subset of :data:`QUESTION_TYPES`.
    random_state : int or None, default=0
        Seed of the generator; None draws fresh entropy.

    Returns
    -------
    dialogs : list of list of dict
        Each a CSQA dialog (alternating user and system turns).
    logical_forms : list of list
        Per dialog, the gold logical form of each pair: a clarification
        exchange's form is on its ambiguous question (the turn
        :func:`dialog_to_turns` yields) and the resolution pair has None.
    """
    if not isinstance(kg, KnowledgeGraph):
        raise TypeError(f"kg must be a KnowledgeGraph, got {type(kg).__name__}")
    for name, v in (("n_dialogs", n_dialogs), ("n_turns", n_turns)):
        if not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    qtypes = list(question_types) if question_types is not None else list(QUESTION_TYPES)
    unknown = [q for q in qtypes if q not in _MAKERS]
    if unknown or not qtypes:
        raise ValueError(f"unknown question types {unknown}; known: {list(QUESTION_TYPES)}")
    rng = np.random.default_rng(random_state)
    maker = _DialogMaker(kg, rng)
    seen = dict.fromkeys(qtypes, 0)
    dialogs, forms = [], []
    for _ in range(n_dialogs):
        dialog, lfs, prev = [], [], None
        for _ in range(n_turns):
            made = None
            # Least-used types first, ties in random order; skip infeasible ones.
            order = sorted(qtypes, key=lambda q: (seen[q], rng.random()))
            for qtype in order:
                made = getattr(maker, _MAKERS[qtype])(prev)
                if made is not None:
                    break
            if made is None:
                made = maker.direct(None)
                qtype = "Simple Question (Direct)"
                if made is None:
                    break
            seen[qtype] = seen.get(qtype, 0) + 1
            prev_pair = (dialog[-2], dialog[-1]) if dialog else None
            if qtype == "Clarification":
                (amb, ask), made = made
                dialog += [amb, ask]
            user, system, lf, meta = made
            if prev_pair is not None:
                user_context = {
                    "previous": {
                        "user": {k: v for k, v in prev_pair[0].items()},
                        "system": {k: v for k, v in prev_pair[1].items()},
                    }
                }
            else:
                user_context = {"previous": None}
            dialog += [user, system]
            lfs += [lf, None] if qtype == "Clarification" else [lf]
            answer = maker.run(lf, user_context)
            answer = to_answer(answer)
            if qtype == "Clarification":
                user = amb  # what later turns see: the question, then the answer
            prev = {
                "user": user,
                "system": system,
                "qtype": qtype,
                "meta": meta,
                "answer": answer,
                "answer_kind": "set" if isinstance(answer, list) else "other",
                "as_previous": {"previous": {"user": user, "system": system}},
            }
        dialogs.append(dialog)
        forms.append(lfs)
    return dialogs, forms


def make_dataset(
    n_dialogs: int = 20,
    *,
    n_entities: int = 600,
    n_turns: int = 8,
    kg: KnowledgeGraph | None = None,
    random_state: int | None = 0,
):
    """A graph and self-contained turns, answers and gold forms over it.

    Parameters
    ----------
    n_dialogs : int, default=20
        Number of dialogs (see :func:`make_dialogs`).
    n_entities : int, default=600
        Approximate number of entities of the generated graph (see
        :func:`make_knowledge_graph`); unused when ``kg`` is given.
    n_turns : int, default=8
        User/system pairs per dialog.
    kg : KnowledgeGraph, optional
        The graph to converse over; by default one is generated.
    random_state : int or None, default=0
        Seed of the graph and the dialogs; None draws fresh entropy.

    Returns
    -------
    kg : KnowledgeGraph
        The graph the answers hold in.
    turns : list of dict
        Self-contained turns (see :func:`dialog_to_turns`).
    answers : list
        Gold answers (list of ids, int or bool).
    logical_forms : list of LogicalForm
        The gold form of each turn (its execution equals the answer).

    Examples
    --------
    >>> from sktheory.logical_form import make_dataset
    >>> kg, turns, answers, forms = make_dataset(2, n_entities=200, random_state=0)
    >>> len(turns) == len(answers) == len(forms)
    True
    """
    rng = np.random.default_rng(random_state)
    seeds = rng.integers(2**31, size=2)
    if kg is None:
        kg = make_knowledge_graph(n_entities, random_state=int(seeds[0]))
    dialogs, lfs = make_dialogs(kg, n_dialogs, n_turns=n_turns, random_state=int(seeds[1]))
    turns, answers, forms = [], [], []
    for dialog, dialog_lfs in zip(dialogs, lfs, strict=True):
        t, a = dialog_to_turns(dialog)
        turns += t
        answers += a
        forms += [lf for lf in dialog_lfs if lf is not None]
    return kg, turns, answers, forms


def _write_sample(folder, *, random_state: int = 0) -> None:
    """Write the package's sample data (``data/kg`` and ``data/dialogs``)."""
    from pathlib import Path

    from .csqa import write_csqa

    folder = Path(folder)
    kg = make_knowledge_graph(180, random_state=random_state)
    kg.to_csqa_folder(folder / "kg")
    dialogs, _ = make_dialogs(kg, 6, n_turns=8, random_state=random_state)
    write_csqa(dialogs, folder / "dialogs")
