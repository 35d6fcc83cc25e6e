"""The SPARQL (rdflib) path gives the in-memory executor's answers."""

import random

import pytest

from sktheory.logical_form import (
    Entity,
    KnowledgeGraph,
    Number,
    Op,
    Reference,
    Relation,
    SparqlExecutor,
    Type,
    execute,
    load_sample,
    make_dataset,
    to_sparql,
)

rdflib = pytest.importorskip("rdflib")

from tests.test_logical_form import TRIPLES, TURN, TYPES  # noqa: E402

_COMPARISONS = ["greater", "less", "equal", "atleast", "atmost", "approx"]


def _random_form(rng, entities, relations, types, depth=0, kind="set"):
    """A random well-typed form over the given symbols."""
    if kind == "num":
        if rng.random() < 0.5:
            return Number(rng.randrange(4))
        return Op("count", (_random_form(rng, entities, relations, types, depth + 1),))
    if kind == "counts":
        op = rng.choice(["count_each", "count_each_reverse", "count_each2", "count_each2_reverse"])
        inner = (
            Op("all", (Type(rng.choice(types)),))
            if rng.random() < 0.7
            else _random_form(rng, entities, relations, types, depth + 1)
        )
        # Two-type counts (CSQA's "Mult. entity type"): one more type argument.
        target = tuple(Type(rng.choice(types)) for _ in range(2 if "2" in op else 1))
        return Op(op, (inner, Relation(rng.choice(relations)), *target))
    leaf = depth >= 2 or rng.random() < 0.2
    if leaf:
        if rng.random() < 0.15:
            return Reference(rng.choice(["prev_answer", "prev_entities"]))
        return Entity(rng.choice(entities))
    choice = rng.choice(
        ["find", "find_reverse", "filter", "all", "setop", "superlative", "compare"]
    )

    def sub():
        return _random_form(rng, entities, relations, types, depth + 1)

    if choice in ("find", "find_reverse"):
        return Op(choice, (sub(), Relation(rng.choice(relations))))
    if choice == "filter":
        return Op("filter", (sub(), Type(rng.choice(types))))
    if choice == "all":
        return Op("all", (Type(rng.choice(types)),))
    if choice == "setop":
        return Op(rng.choice(["union", "inter", "diff"]), (sub(), sub()))
    counts = _random_form(rng, entities, relations, types, depth + 1, "counts")
    if choice == "superlative":
        return Op(rng.choice(["argmax", "argmin"]), (counts,))
    num = _random_form(rng, entities, relations, types, depth + 1, "num")
    return Op(rng.choice(_COMPARISONS), (counts, num))


def _any_top_form(rng, entities, relations, types):
    shape = rng.choice(["set", "num", "bool", "pair"])
    if shape == "pair":  # a two-part answer: two counts or two truth values
        part = rng.choice(["num", "bool"])
        parts = tuple(_top_form(rng, entities, relations, types, part, depth=1) for _ in range(2))
        return Op(f"pair_{part}", parts)
    return _top_form(rng, entities, relations, types, shape)


def _top_form(rng, entities, relations, types, shape=None, depth=0):
    if shape is None:
        return _any_top_form(rng, entities, relations, types)
    body = _random_form(rng, entities, relations, types, depth)
    if shape == "set":
        return body
    if shape == "num":
        return Op("count", (body,))
    return Op("is_in", (_random_form(rng, entities, relations, types, depth + 1), body))


def _agreement(n_forms, seed):
    kg = KnowledgeGraph(TRIPLES, entity_types=TYPES)
    sx = SparqlExecutor(kg.to_rdflib())
    rng = random.Random(seed)
    entities = sorted(kg.entities)
    relations = sorted(kg.relations)
    types = sorted(kg.types)
    kinds = {"set": 0, "num": 0, "bool": 0, "pair": 0}
    two_type = 0
    non_trivial = 0
    for _ in range(n_forms):
        lf = _top_form(rng, entities, relations, types)
        turn = TURN if rng.random() < 0.5 else None
        memory = execute(lf, kg, turn)
        assert sx.execute(lf, turn) == memory, str(lf)
        kinds[lf.kind] += 1
        two_type += "count_each2" in str(lf)
        non_trivial += memory not in ([], 0, False)
    return kinds, non_trivial, two_type


def test_sparql_agrees_with_memory_on_random_forms():
    # rdflib parses each query in ~0.1 s, so the default run checks 80 forms.
    kinds, non_trivial, two_type = _agreement(80, seed=0)
    assert min(kinds.values()) >= 12
    assert two_type >= 5  # two-type counts and two-part answers are covered
    assert non_trivial >= 20  # the agreement is not only on empty answers


@pytest.mark.slow
def test_sparql_agrees_with_memory_on_many_random_forms():
    kinds, non_trivial, _ = _agreement(400, seed=1)
    assert min(kinds.values()) >= 60 and non_trivial >= 150


def test_sparql_agrees_on_generated_gold_forms():
    kg, _, _ = load_sample()
    sx = SparqlExecutor(kg.to_rdflib())
    _, turns, answers, forms = make_dataset(2, n_turns=10, kg=kg, random_state=11)
    for turn, answer, lf in list(zip(turns, answers, forms, strict=True))[:10]:
        assert sx.execute(lf, turn) == execute(lf, kg, turn) == answer, str(lf)


def test_sparql_namespaces_and_predicates():
    ns = "http://example.org/"
    g = rdflib.Graph()
    U = rdflib.URIRef
    kind = U(ns + "instanceOf")
    g.add((U(ns + "paris"), U(ns + "in"), U(ns + "fr")))
    g.add((U(ns + "lyon"), U(ns + "in"), U(ns + "fr")))
    g.add((U(ns + "paris"), kind, U(ns + "city")))
    sx = SparqlExecutor(g, namespace=ns, type_predicate=ns + "instanceOf")
    assert sx.execute("filter(find_reverse(fr, in), city)") == ["paris"]
    assert sx.execute("count(find_reverse(fr, in))") == 2
    kg = KnowledgeGraph.from_rdflib(g, namespace=ns, type_predicate=ns + "instanceOf")
    assert execute("filter(find_reverse(fr, in), city)", kg) == ["paris"]
    text = to_sparql("is_in(paris, all(city))", namespace=ns)
    assert text.startswith("SELECT") and "<http://example.org/city>" in text
    with pytest.raises(ValueError, match="cannot be written as a SPARQL IRI"):
        to_sparql('find("a b", in)', namespace=ns)
