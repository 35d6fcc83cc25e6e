"""Tests of sktheory.logical_form: grammar, graph, executor, CSQA I/O, generator, search."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sktheory.logical_form import (
    OPERATORS,
    QUESTION_TYPES,
    REFERENCES,
    Entity,
    Executor,
    KnowledgeGraph,
    LogicalFormSyntaxError,
    LogicalFormTypeError,
    Number,
    Op,
    PrefixState,
    Reference,
    Relation,
    Searcher,
    Type,
    UnknownSymbolError,
    answer_score,
    answers_equal,
    check,
    coverage_report,
    dialog_to_turns,
    execute,
    from_linear,
    linearize,
    load_sample,
    make_dataset,
    make_dialogs,
    make_knowledge_graph,
    parse,
    read_csqa,
    read_dialog,
    sample_path,
    search,
    search_many,
    size,
    write_csqa,
)

# ---------------------------------------------------------------------------
# A small hand-written graph with answers worked out by hand.

TRIPLES = [
    ("fr", "border", "de"),
    ("de", "border", "fr"),
    ("de", "border", "pl"),
    ("pl", "border", "de"),
    ("rhine", "flows", "de"),
    ("rhine", "flows", "fr"),
    ("oder", "flows", "pl"),
    ("oder", "flows", "de"),
    ("seine", "flows", "fr"),
    ("paris", "in", "fr"),
    ("lyon", "in", "fr"),
    ("berlin", "in", "de"),
    ("paris", "capital_of", "fr"),
    ("berlin", "capital_of", "de"),
]
TYPES = {
    "fr": "country",
    "de": "country",
    "pl": "country",
    "rhine": "river",
    "oder": "river",
    "seine": "river",
    "paris": "city",
    "lyon": "city",
    "berlin": "city",
}
LABELS = {"fr": "France", "de": "Germany", "pl": "Poland", "paris": "Paris"}


@pytest.fixture(scope="module")
def kg():
    return KnowledgeGraph(TRIPLES, entity_types=TYPES, labels=LABELS)


TURN = {
    "utterance": "and that one?",
    "previous": {
        "user": {"utterance": "x", "entities_in_utterance": ["pl"]},
        "system": {"utterance": "Germany", "all_entities": ["de"]},
    },
}

# (form, answer) pairs worked out by hand on the graph above.
KNOWN = [
    ("find(fr, border)", ["de"]),
    ("find_reverse(fr, flows)", ["rhine", "seine"]),
    ("filter(find_reverse(fr, in), city)", ["lyon", "paris"]),
    ("filter(find_reverse(fr, in), river)", []),
    ("all(river)", ["oder", "rhine", "seine"]),
    ("union(find(fr, border), find(pl, border))", ["de"]),
    ("union(find_reverse(fr, flows), find_reverse(pl, flows))", ["oder", "rhine", "seine"]),
    ("inter(find_reverse(fr, flows), find_reverse(de, flows))", ["rhine"]),
    ("diff(find_reverse(fr, flows), find_reverse(de, flows))", ["seine"]),
    ("count(find_reverse(fr, flows))", 2),
    ("count(find(seine, border))", 0),
    ("is_in(de, find(fr, border))", True),
    ("is_in(pl, find(fr, border))", False),
    ("is_in(union(fr, pl), find(de, border))", True),
    ("is_in(find(seine, border), all(country))", False),  # empty first argument
    # rivers per country: fr 2 (rhine, seine), de 2 (rhine, oder), pl 1 (oder)
    ("argmax(count_each_reverse(all(country), flows, river))", ["de", "fr"]),
    ("argmin(count_each_reverse(all(country), flows, river))", ["pl"]),
    ("greater(count_each_reverse(all(country), flows, river), 1)", ["de", "fr"]),
    ("less(count_each_reverse(all(country), flows, river), 2)", ["pl"]),
    ("equal(count_each_reverse(all(country), flows, river), 1)", ["pl"]),
    ("atleast(count_each_reverse(all(country), flows, river), 2)", ["de", "fr"]),
    ("atmost(count_each_reverse(all(country), flows, river), 0)", []),
    # countries per river: rhine 2, oder 2, seine 1; approx(n=3) allows |c-3| <= 1
    ("approx(count_each(all(river), flows, country), 3)", ["oder", "rhine"]),
    ("approx(count_each(all(river), flows, country), 0)", ["seine"]),
    # cities per country: fr 2, de 1, pl 0 (zero counts are kept)
    ("argmin(count_each_reverse(all(country), in, city))", ["pl"]),
    ("equal(count_each_reverse(all(country), in, city), count(find(fr, border)))", ["de"]),
    ("count(greater(count_each_reverse(all(country), in, city), 0))", 2),
    ("argmax(count_each(find(fr, border), border, country))", ["de"]),
    ("argmax(count_each(find(seine, border), border, country))", []),
    ("find(prev_answer, border)", ["fr", "pl"]),
    ("find(prev_entities, border)", ["de"]),
    ("count(union(prev_answer, prev_entities))", 2),
]


# ---------------------------------------------------------------------------
# Grammar


@pytest.mark.parametrize("text, expected", KNOWN)
def test_execute_known_answers(kg, text, expected):
    assert execute(text, kg, TURN) == expected


def test_print_is_canonical_and_parses_back():
    lf = parse("count( filter(find(Q1,P17) ,Q6256))")
    assert str(lf) == "count(filter(find(Q1, P17), Q6256))"
    assert parse(str(lf)) == lf
    assert lf == Op(
        "count",
        (Op("filter", (Op("find", (Entity("Q1"), Relation("P17"))), Type("Q6256"))),),
    )
    assert size(lf) == 6


def test_identifiers_that_need_quotes_round_trip():
    lf = Op("find", (Entity("http://x.org/a b"), Relation('p"q')))
    assert str(lf) == 'find("http://x.org/a b", "p\\"q")'
    assert parse(str(lf)) == lf
    # Reserved names are quoted when they are identifiers, bare when references.
    assert str(Entity("prev_answer")) == '"prev_answer"'
    assert parse('"prev_answer"') == Entity("prev_answer")
    assert parse("prev_answer") == Reference("prev_answer")
    assert parse('"12"') == Entity("12")


_ID = st.one_of(
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True),
    st.text(min_size=1, max_size=6),
)
_SET_LEAF = st.one_of(_ID.map(Entity), st.sampled_from(REFERENCES).map(Reference))


def _extend(sets):
    nums = st.one_of(st.integers(0, 10**9).map(Number), sets.map(lambda s: Op("count", (s,))))
    counts = st.builds(
        lambda s, r, t, op: Op(op, (s, Relation(r), Type(t))),
        sets,
        _ID,
        _ID,
        st.sampled_from(["count_each", "count_each_reverse"]),
    )
    return st.one_of(
        st.builds(
            lambda s, r, op: Op(op, (s, Relation(r))),
            sets,
            _ID,
            st.sampled_from(["find", "find_reverse"]),
        ),
        st.builds(lambda s, t: Op("filter", (s, Type(t))), sets, _ID),
        _ID.map(lambda t: Op("all", (Type(t),))),
        st.builds(
            lambda a, b, op: Op(op, (a, b)),
            sets,
            sets,
            st.sampled_from(["union", "inter", "diff"]),
        ),
        st.builds(lambda c, op: Op(op, (c,)), counts, st.sampled_from(["argmax", "argmin"])),
        st.builds(
            lambda c, n, op: Op(op, (c, n)),
            counts,
            nums,
            st.sampled_from(["greater", "less", "equal", "atleast", "atmost", "approx"]),
        ),
    )


SETS = st.recursive(_SET_LEAF, _extend, max_leaves=10)
FORMS = st.one_of(
    SETS,
    SETS.map(lambda s: Op("count", (s,))),
    st.builds(lambda a, b: Op("is_in", (a, b)), SETS, SETS),
)


@settings(max_examples=200, deadline=None)
@given(FORMS)
def test_parse_print_round_trip(lf):
    check(lf)
    text = str(lf)
    assert parse(text) == lf
    assert str(parse(text)) == text
    tokens = linearize(lf)
    assert from_linear(tokens) == lf
    # Each token of a well-typed form is among those the prefix state allows.
    state = PrefixState()
    for category, value in tokens:
        allowed = state.allowed()
        assert value in allowed["ops"] if category == "op" else category in allowed["categories"]
        state.push((category, value))
    assert state.done


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("count(Q1", "line 1, column 9: unexpected end of input"),
        ("find(Q1, P1) x", "column 14"),
        ("find(Q1,, P1)", "column 9"),
        ("", "unexpected end of input"),
        ("__import__('os').system('true')", "column 12"),
        ("count(find(Q1, P1)))", "column 20"),
        ('find("unterminated, P1)', "line 1"),
    ],
)
def test_malformed_strings_raise_syntax_errors(text, fragment):
    with pytest.raises(LogicalFormSyntaxError, match="malformed logical form") as info:
        parse(text)
    assert fragment in str(info.value)


def test_deeply_nested_text_is_a_syntax_error_not_a_recursion_error():
    from sktheory.logical_form.grammar import MAX_DEPTH

    def nested(depth):
        return "union(" * depth + "all(Q5)" + ", all(Q5))" * depth

    assert str(parse(nested(MAX_DEPTH - 1))) == nested(MAX_DEPTH - 1)
    with pytest.raises(LogicalFormSyntaxError, match=f"nested deeper than {MAX_DEPTH}") as info:
        parse(nested(100_000))
    assert "line 1, column 606" in str(info.value)  # the 101st "("
    # Parentheses inside quoted identifiers do not count.
    assert parse('count(all("' + "(" * 500 + '"))').kind == "num"


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("find(Q1)", "'find' takes 2 argument(s), got 1 at line 1, column 1"),
        (
            "find(Q1, count(Q2))",
            "expected a relation at line 1, column 10 (argument 2 of 'find')",
        ),
        (
            "count(3)",
            "expected a set of entities at line 1, column 7 (argument 1 of 'count')",
        ),
        (
            "count(filter(find(Q1, P1), find(Q2, P2)))",
            "column 28 (argument 2 of 'filter', in argument 1 of 'count')",
        ),
        ("argmax(Q1)", "expected per-entity counts"),
        ("fnd(Q1, P1)", "unknown operator 'fnd' at line 1, column 1"),
        ("count_each(all(T), R, T)", "got per-entity counts"),
        ("greater(count_each(all(T), R, T), Q1)", "expected a number"),
        ("find(prev_answer, prev_answer)", "got the reference prev_answer"),
        ("\n  count(\n  7)", "line 3, column 3"),
    ],
)
def test_ill_typed_forms_name_the_position(text, fragment):
    with pytest.raises(LogicalFormTypeError) as info:
        parse(text)
    assert fragment in str(info.value)


def test_check_names_the_argument_of_hand_built_forms():
    with pytest.raises(
        LogicalFormTypeError, match="argument 2 of 'find', in argument 1 of 'count'"
    ):
        check(Op("count", (Op("find", (Entity("Q1"), Entity("Q2"))),)))
    with pytest.raises(LogicalFormTypeError, match="non-negative"):
        check(
            Op(
                "equal",
                (Op("count_each", (Entity("a"), Relation("r"), Type("t"))), Number(-1)),
            )
        )
    with pytest.raises(LogicalFormTypeError, match="unknown reference"):
        check(Reference("prev_question"))
    with pytest.raises(LogicalFormTypeError, match="not a logical-form node"):
        check(Op("count", ("Q1",)))
    with pytest.raises(LogicalFormSyntaxError, match="must be a string"):
        parse(42)


def test_prefix_state_constrains_next_tokens():
    state = PrefixState()
    assert set(state.allowed()["ops"]) == {
        name for name, sig in OPERATORS.items() if sig.result in ("set", "num", "bool")
    }
    with pytest.raises(LogicalFormTypeError, match="expected"):
        state.push(("op", "count_each"))  # per-entity counts are not an answer
    state = PrefixState()
    state.push(("op", "find"))
    assert state.expected == "set"
    state.push(("entity", "Q1"))
    assert state.allowed() == {"categories": ["relation"], "ops": []}
    with pytest.raises(LogicalFormTypeError):
        state.push(("type", "Q5"))
    state.push(("relation", "P1"))
    assert state.done
    with pytest.raises(LogicalFormTypeError, match="incomplete"):
        from_linear([("op", "find"), ("entity", "Q1")])


# ---------------------------------------------------------------------------
# Knowledge graph


def test_graph_indexes(kg):
    assert kg.objects("fr", "border") == {"de"}
    assert kg.subjects("fr", "flows") == {"rhine", "seine"}
    assert kg.types_of("paris") == {"city"}
    assert kg.members("country") == {"fr", "de", "pl"}
    assert kg.label("fr") == "France" and kg.label("lyon") == "lyon"
    assert kg.find_by_label("france") == ["fr"]
    assert kg.n_triples == len(TRIPLES)
    assert sorted(kg.triples()) == sorted(TRIPLES)


def test_csqa_json_constructor_and_round_trip(kg, tmp_path):
    files = kg.to_csqa_json()
    again = KnowledgeGraph.from_csqa_json(
        files["wikidata_short_1.json"],
        labels=files["items_wikidata_n.json"],
        entity_types=files["child_par_dict_name_2_corr.json"],
    )
    assert sorted(again.triples()) == sorted(kg.triples())
    assert again.entity_types == kg.entity_types
    # The reverse map alone carries the same triples.
    rev_only = KnowledgeGraph.from_csqa_json({}, reverse=files["comp_wikidata_rev.json"])
    assert sorted(rev_only.triples()) == sorted(kg.triples())
    kg.to_csqa_folder(tmp_path / "kg")
    loaded = KnowledgeGraph.from_csqa_folder(tmp_path / "kg")
    assert sorted(loaded.triples()) == sorted(kg.triples())
    assert loaded.labels == kg.labels and loaded.entity_types == kg.entity_types


@pytest.mark.parametrize(
    "forward, fragment",
    [
        (["Q1"], "expected an object"),
        ({"Q1": ["P1"]}, "value of 'Q1' must be an object"),
        ({"Q1": {"P1": "Q2"}}, "'Q1' -> 'P1' must be a list"),
        ({"Q1": {"P1": [3]}}, "non-string 3"),
    ],
)
def test_malformed_csqa_dictionaries(forward, fragment):
    with pytest.raises(ValueError, match="malformed CSQA") as info:
        KnowledgeGraph.from_csqa_json(forward)
    assert fragment in str(info.value)


def test_malformed_csqa_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such knowledge-graph folder"):
        KnowledgeGraph.from_csqa_folder(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="no forward"):
        KnowledgeGraph.from_csqa_folder(tmp_path)
    (tmp_path / "wikidata_short_1.json").write_text('{"Q1": {"P1": ["Q2"]')
    with pytest.raises(ValueError, match="malformed CSQA JSON in .*wikidata_short_1.json"):
        KnowledgeGraph.from_csqa_folder(tmp_path)
    (tmp_path / "wikidata_short_1.json").write_bytes(b'{"Q1": {"P1": ["Q\xff"]}}')
    with pytest.raises(ValueError, match="wikidata_short_1.json is not valid UTF-8"):
        KnowledgeGraph.from_csqa_folder(tmp_path)
    (tmp_path / "wikidata_short_1.json").write_text('{"Q1": {"P1": ["Q2"]}}')
    (tmp_path / "par_child_dict.json").write_text('{"Q5": "Q1"}')
    with pytest.raises(ValueError, match="type_members: value of 'Q5' must be a list"):
        KnowledgeGraph.from_csqa_folder(tmp_path)


def test_bad_triples_are_refused():
    with pytest.raises(ValueError, match="triple 0 must be"):
        KnowledgeGraph([("a", "b")])
    with pytest.raises(ValueError, match="relation must be a non-empty string"):
        KnowledgeGraph([("a", "", "b")])
    for bad in (None, 3, "Q1 P1 Q2", {"Q1": "P1"}):
        with pytest.raises(TypeError, match="iterable of \\(subject, relation, object\\)"):
            KnowledgeGraph(bad)


def test_rdflib_constructor(kg):
    rdflib = pytest.importorskip("rdflib")
    ns = "http://example.org/"
    g = rdflib.Graph()
    U = rdflib.URIRef
    g.add((U(ns + "paris"), U(ns + "in"), U(ns + "fr")))
    g.add((U(ns + "fr"), rdflib.RDF.type, U(ns + "country")))
    g.add((U(ns + "fr"), rdflib.RDFS.label, rdflib.Literal("France")))
    g.add((U(ns + "in"), rdflib.RDFS.label, rdflib.Literal("located in")))
    g.add((U(ns + "fr"), U(ns + "population"), rdflib.Literal(67)))  # ignored
    small = KnowledgeGraph.from_rdflib(g, namespace=ns)
    assert list(small.triples()) == [("paris", "in", "fr")]
    assert small.types_of("fr") == {"country"}
    assert small.label("fr") == "France" and small.relation_labels == {"in": "located in"}
    full = KnowledgeGraph.from_rdflib(g)  # no namespace: identifiers are the IRIs
    assert execute(f'find("{ns}paris", "{ns}in")', full) == [ns + "fr"]
    back = KnowledgeGraph.from_rdflib(kg.to_rdflib("urn:kg:"), namespace="urn:kg:")
    assert sorted(back.triples()) == sorted(kg.triples())
    assert back.entity_types == kg.entity_types


# ---------------------------------------------------------------------------
# Executor rules


def test_unknown_symbols_raise_or_are_empty(kg):
    with pytest.raises(UnknownSymbolError, match="unknown entity 'atlantis'"):
        execute("find(atlantis, border)", kg)
    with pytest.raises(UnknownSymbolError, match="unknown relation 'likes'"):
        execute("find(fr, likes)", kg)
    with pytest.raises(UnknownSymbolError, match="unknown type 'ocean'"):
        execute("all(ocean)", kg)
    assert execute("union(find(atlantis, border), all(ocean))", kg, strict=False) == []
    assert execute("count(find(fr, likes))", kg, strict=False) == 0


def test_references_without_previous_turn_are_empty(kg):
    assert execute("find(prev_answer, border)", kg) == []
    assert execute("count(prev_entities)", kg, {"utterance": "x", "previous": None}) == 0
    turn = {"previous": {"system": {"utterance": "3", "all_entities": []}}}
    assert execute("is_in(prev_answer, all(country))", kg, turn) is False
    with pytest.raises(TypeError, match="all_entities must be a list"):
        execute("prev_answer", kg, {"previous": {"system": {"all_entities": "de"}}})


def test_executor_cache_gives_same_answers(kg):
    ex = Executor(kg, cache_size=4)
    for text, expected in KNOWN * 2:
        assert ex.execute(text, TURN) == expected
    assert len(ex._cache) <= 4
    # A cached turn-independent part combined with a changing reference.
    other = {"previous": {"system": {"all_entities": ["fr"]}}}
    assert ex.execute("find(prev_answer, border)", other) == ["de"]


def test_graph_and_forms_pickle_and_copy(kg):
    import copy
    import pickle

    lf = parse("count(filter(find(prev_answer, border), country))")
    assert pickle.loads(pickle.dumps(lf)) == lf
    again = pickle.loads(pickle.dumps(kg))
    assert sorted(again.triples()) == sorted(kg.triples())
    assert execute(lf, again, TURN) == execute(lf, kg, TURN) == 2
    assert copy.deepcopy(kg) is kg  # immutable: clones share it


def test_answers_and_score():
    assert answers_equal(["a", "b"], ("b", "a"))
    assert not answers_equal(1, True) and not answers_equal(True, 1)
    assert not answers_equal(["a"], 1)
    assert answer_score(["a", "b"], ["a"]) == pytest.approx(2 / 3)
    assert answer_score([], []) == 1.0 and answer_score(None, ["a"]) == 0.0
    assert answer_score(2, 2) == 1.0 and answer_score(False, False) == 1.0


# ---------------------------------------------------------------------------
# CSQA dialogs


def _dialog():
    return [
        {
            "speaker": "USER",
            "question-type": "Simple Question (Direct)",
            "utterance": "Which country borders France?",
            "entities_in_utterance": ["fr"],
            "relations": ["border"],
            "type_list": ["country"],
        },
        {"speaker": "SYSTEM", "utterance": "Germany", "all_entities": ["de"]},
        {
            "speaker": "USER",
            "question-type": "Simple Question (Direct)",
            "utterance": "Which country borders Paris?",
            "entities_in_utterance": ["paris"],
            "relations": ["border"],
            "type_list": ["country"],
        },
        {"speaker": "SYSTEM", "utterance": "Did you mean Paris?", "all_entities": []},
        {
            "speaker": "USER",
            "question-type": "Clarification",
            "utterance": "No, I meant Poland.",
            "entities_in_utterance": ["pl"],
            "relations": [],
            "type_list": [],
        },
        {"speaker": "SYSTEM", "utterance": "Germany", "all_entities": ["de"]},
        {
            "speaker": "USER",
            "question-type": "Quantitative Reasoning (Count) (All)",
            "utterance": "How many rivers flow through it?",
            "entities_in_utterance": [],
            "relations": ["flows"],
            "type_list": ["river"],
        },
        {"speaker": "SYSTEM", "utterance": "2", "all_entities": []},
        {
            "speaker": "USER",
            "question-type": "Verification (Boolean) (All)",
            "utterance": "Does the Oder flow through Poland?",
            "entities_in_utterance": ["oder", "pl"],
            "relations": ["flows"],
            "type_list": [],
        },
        {"speaker": "SYSTEM", "utterance": "YES", "all_entities": []},
    ]


def test_dialog_to_self_contained_turns(kg):
    turns, answers = dialog_to_turns(_dialog())
    assert answers == [["de"], ["de"], 2, True]
    assert [t["question-type"] for t in turns][1] == "Clarification"
    assert turns[0]["previous"] is None
    # The clarification's previous turn is the ambiguous question.
    assert turns[1]["previous"]["user"]["utterance"] == "Which country borders Paris?"
    assert "previous" not in turns[2]["previous"]["user"]
    assert execute("filter(find(pl, border), country)", kg, turns[1]) == answers[1]
    assert execute("count(find_reverse(prev_answer, flows))", kg, turns[2]) == answers[2]
    assert search(turns[1], answers[1], kg).found


def test_write_and_read_csqa(tmp_path):
    paths = write_csqa([_dialog(), _dialog()[:2]], tmp_path / "qa")
    assert [p.name for p in paths] == ["QA_0.json", "QA_1.json"]
    turns, answers = read_csqa(tmp_path / "qa")
    assert len(turns) == 5 and answers[-1] == ["de"]
    assert read_csqa(paths[1])[1] == [["de"]]


@pytest.mark.parametrize(
    "dialog, fragment",
    [
        ({"turns": []}, "expected a list of turns"),
        ([{"speaker": "SYSTEM", "utterance": "hi"}], "turn 0 should be spoken by USER"),
        ([{"speaker": "USER", "utterance": "hi"}], "has no system reply"),
        ([{"speaker": "USER"}], "turn 0 has no utterance"),
        (
            [{"speaker": "USER", "utterance": "x", "relations": "P1"}, {"utterance": "y"}],
            "'relations' must be a list of ids",
        ),
        (
            [
                {"speaker": "USER", "utterance": "x"},
                {"utterance": "y", "all_entities": [1]},
            ],
            "must hold strings",
        ),
    ],
)
def test_malformed_dialogs(dialog, fragment):
    with pytest.raises(ValueError) as info:
        read_dialog(dialog)
    assert fragment in str(info.value)


def test_malformed_dialog_files(tmp_path):
    (tmp_path / "QA_0.json").write_text("[{")
    with pytest.raises(ValueError, match="malformed CSQA JSON in .*QA_0.json"):
        read_csqa(tmp_path)
    (tmp_path / "QA_0.json").write_bytes(b'[{"utterance": "caf\xe9"}]')  # Latin-1, not UTF-8
    with pytest.raises(ValueError, match="QA_0.json is not valid UTF-8"):
        read_csqa(tmp_path)
    with pytest.raises(ValueError, match="QA_0.json is not valid UTF-8"):
        read_dialog(tmp_path / "QA_0.json")
    for bad in (None, 7, str(tmp_path / "QA_0.json"), {"utterance": "hi"}):
        with pytest.raises(TypeError, match="list of turn dicts"):
            dialog_to_turns(bad)
    with pytest.raises(FileNotFoundError):
        read_csqa(tmp_path / "nothing")
    bad_count = _dialog()[6:8]
    bad_count[1] = {"speaker": "SYSTEM", "utterance": "many", "all_entities": []}
    with pytest.raises(ValueError, match="count answer without a number"):
        dialog_to_turns(bad_count)


def test_shipped_sample_reads_and_covers_every_type():
    folder = sample_path()
    assert folder.joinpath("kg", "wikidata_short_1.json").is_file()
    kg, turns, answers = load_sample()
    assert {t["question-type"] for t in turns} == set(QUESTION_TYPES)
    assert len(kg.types) == 14 and len(kg.relations) == 32
    for turn in turns:
        for e in turn["entities_in_utterance"]:
            assert e in kg.entities
    first = json.loads(folder.joinpath("dialogs", "QA_0", "QA_0.json").read_text("utf-8"))
    assert first[0]["speaker"] == "USER"


# ---------------------------------------------------------------------------
# Generator


def test_generator_is_seeded_and_gold_forms_give_the_answers():
    kg1 = make_knowledge_graph(150, random_state=3)
    kg2 = make_knowledge_graph(150, random_state=3)
    assert sorted(kg1.triples()) == sorted(kg2.triples()) and kg1.labels == kg2.labels
    d1, f1 = make_dialogs(kg1, 3, n_turns=10, random_state=5)
    d2, f2 = make_dialogs(kg2, 3, n_turns=10, random_state=5)
    assert d1 == d2 and f1 == f2
    assert make_dialogs(kg1, 3, n_turns=10, random_state=6)[0] != d1
    kg, turns, answers, forms = make_dataset(4, n_entities=150, random_state=1)
    assert len(turns) == len(answers) == len(forms)
    assert {t["question-type"] for t in turns} == set(QUESTION_TYPES)
    for turn, answer, lf in zip(turns, answers, forms, strict=True):
        assert answers_equal(execute(lf, kg, turn), answer), (turn, lf)
        assert parse(str(lf)) == lf
        if isinstance(answer, list):
            assert answer  # no empty entity answers


def test_generator_bad_parameters():
    with pytest.raises(ValueError, match="n_entities must be an integer >= 28"):
        make_knowledge_graph(5)
    kg = make_knowledge_graph(60, random_state=0)
    with pytest.raises(ValueError, match="n_dialogs must be a positive integer"):
        make_dialogs(kg, 0)
    with pytest.raises(ValueError, match="unknown question types"):
        make_dialogs(kg, 1, question_types=["Small talk"])
    with pytest.raises(TypeError, match="kg must be a KnowledgeGraph"):
        make_dialogs({}, 1)


# ---------------------------------------------------------------------------
# Search


def test_search_finds_the_intended_form_first(kg):
    turn = {
        "question-type": "Simple Question (Direct)",
        "utterance": "Which rivers flow through France?",
        "entities_in_utterance": ["fr"],
        "relations": ["flows"],
        "type_list": ["river"],
    }
    result = search(turn, ["rhine", "seine"], kg)
    assert result.status == "found"
    assert str(result.best) == "filter(find_reverse(fr, flows), river)"
    assert all(execute(lf, kg, turn) == ["rhine", "seine"] for lf in result)
    # Without the linked-symbol preference the shortest form wins.
    short = search(turn, ["rhine", "seine"], kg, prefer_linked=False)
    assert str(short.best) == "find_reverse(fr, flows)"
    assert [size(lf) for lf in short] == sorted(size(lf) for lf in short)


def test_search_each_kind_of_answer(kg):
    base = {"relations": ["flows"], "type_list": ["country", "river"]}
    most = search({**base, "utterance": "Which country has the most rivers?"}, ["de", "fr"], kg)
    assert "argmax(count_each_reverse(all(country), flows, river))" in map(str, most)
    two = search({**base, "utterance": "How many countries have at least 2 rivers?"}, 2, kg)
    assert "count(atleast(count_each_reverse(all(country), flows, river), 2))" in map(str, two)
    verify = {
        "utterance": "Does the Oder flow through Poland?",
        "entities_in_utterance": ["oder", "pl"],
        "relations": ["flows"],
        "type_list": [],
    }
    yes = search(verify, True, kg)
    assert str(yes.best) in (
        "is_in(pl, find(oder, flows))",
        "is_in(oder, find_reverse(pl, flows))",
    )
    assert execute(yes.best, kg) is True
    coref = {
        "utterance": "Which rivers flow through it?",
        "relations": ["flows"],
        "type_list": ["river"],
        **{k: v for k, v in TURN.items() if k != "utterance"},
    }
    found = search(coref, ["oder", "rhine"], kg)
    assert str(found.best) == "filter(find_reverse(prev_answer, flows), river)"


def test_candidate_symbols(kg):
    from sktheory.logical_form import candidate_symbols

    previous_user = {
        "utterance": "x",
        "entities_in_utterance": ["pl", "fr"],
        "relations": ["flows"],
        "type_list": ["river"],
    }
    turn = {
        "utterance": "And which of the 2 rivers?",
        "entities_in_utterance": ["atlantis", "fr"],
        "relations": [],
        "type_list": [],
        "previous": {"user": previous_user, "system": TURN["previous"]["system"]},
    }
    c = candidate_symbols(turn, kg)
    assert c["entities"] == ["fr", "pl"] and c["unknown"] == ["atlantis"]
    assert c["relations"] == ["flows"] and c["types"] == ["river"] and c["numbers"] == [2]
    assert c["references"] == ["prev_answer", "prev_entities"]
    # No relation of its own: the turn inherits the previous relations and types.
    assert c["linked"]["relation"] == {"flows"} and c["linked"]["type"] == {"river"}
    assert candidate_symbols(turn)["entities"] == ["atlantis", "fr", "pl"]


def test_search_bad_input_and_budget(kg):
    turn = {
        "utterance": "Which country borders France?",
        "entities_in_utterance": ["fr"],
        "relations": ["border"],
        "type_list": ["country"],
    }
    assert search(turn, ["de"], kg).found
    assert search(turn, ["de"], kg, time_budget=1e-9).status == "timeout"
    bad = search({"utterance": 3}, ["de"], kg)
    assert bad.status == "error" and "utterance" in bad.message
    assert search(turn, "de", kg).status == "error"
    assert search(turn, -1, kg).status == "error"
    unknown = search(
        {**turn, "entities_in_utterance": ["atlantis"], "relations": ["likes"]}, ["de"], kg
    )
    assert unknown.status == "not_found" and unknown.unknown == ["atlantis", "likes"]
    assert "no relation" in unknown.message
    results = search_many([turn, None, {"utterance": "?"}, turn], [["de"], 1, True, ["pl"]], kg)
    assert [r.status for r in results] == ["found", "error", "not_found", "not_found"]
    with pytest.raises(ValueError, match="time_budget must be positive"):
        Searcher(kg, time_budget=0)
    with pytest.raises(ValueError, match="2 turns but 1 answers"):
        search_many([turn, turn], [["de"]], kg)


def test_coverage_on_seeded_generated_set():
    kg, turns, answers, _ = make_dataset(12, n_entities=300, random_state=7)
    report = coverage_report(turns, answers, kg)
    assert [r["question_type"] for r in report.rows] == list(QUESTION_TYPES)
    assert report.overall >= 0.96
    assert all(r["n"] > 0 for r in report.rows)
    assert all(r["errors"] == 0 for r in report.rows)
    for turn, answer, result in zip(turns, answers, report.results, strict=True):
        for lf in result:
            assert answers_equal(execute(lf, kg, turn), answer)
    assert "| **overall** |" in report.to_markdown()


def test_example_smoke(tmp_path):
    import importlib.util
    from pathlib import Path

    pytest.importorskip("matplotlib")
    path = Path(__file__).parents[1] / "examples" / "plot_logical_form.py"
    spec = importlib.util.spec_from_file_location("plot_logical_form", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = module.main(["--smoke", "--output", str(tmp_path)])
    assert out["coverage"] >= 0.96
    assert (tmp_path / "logical_form_coverage.png").stat().st_size > 1000
