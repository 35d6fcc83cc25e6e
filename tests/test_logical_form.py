"""Tests of sktheory.logical_form: grammar, graph, executor, CSQA I/O, generator, search."""

import json
import tarfile
from pathlib import Path

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
    csqa_scores,
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
        name for name, sig in OPERATORS.items() if sig.result in ("set", "num", "bool", "pair")
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
        entity_types=files["child_par_dict_save.json"],
        type_labels=files["child_par_dict_name_2_corr.json"],
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
        # CSQA's convention: the ambiguous question is typed "Clarification"
        # and annotated with the intended entity; the resolution gets the answer.
        {
            "speaker": "USER",
            "question-type": "Clarification",
            "utterance": "Which country borders that one?",
            "entities_in_utterance": ["pl"],
            "relations": ["border"],
            "type_list": ["country"],
        },
        {
            "speaker": "SYSTEM",
            "utterance": "Did you mean Paris ?",
            "all_entities": ["paris", "pl"],
            "entities_in_utterance": ["paris"],
        },
        {
            "speaker": "USER",
            "question-type": "Simple Question (Coreferenced)",
            "utterance": "No, I meant Poland. Could you tell me the answer for that?",
            "entities": ["pl"],
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
    # One turn per exchange: the ambiguous question with the final answer.
    assert turns[1]["utterance"] == "Which country borders that one?"
    assert turns[1]["clarification"]["user"]["entities"] == ["pl"]
    assert turns[1]["previous"]["user"]["utterance"] == "Which country borders France?"
    # The next turn sees the ambiguous question and the final answer.
    assert turns[2]["previous"]["user"]["utterance"] == "Which country borders that one?"
    assert turns[2]["previous"]["system"]["all_entities"] == ["de"]
    assert "previous" not in turns[2]["previous"]["user"]
    assert "clarification" not in turns[2]["previous"]["user"]
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
    # A count without a number is read as None (no crash) and read_csqa warns.
    bad_count = _dialog()[6:8]
    bad_count[1] = {"speaker": "SYSTEM", "utterance": "many", "all_entities": []}
    assert dialog_to_turns(bad_count)[1] == [None]
    write_csqa([bad_count], tmp_path / "bad")
    with pytest.warns(UserWarning, match="1 count or verification answers"):
        _, answers, counts = read_csqa(tmp_path / "bad", return_counts=True)
    assert answers == [None] and counts["unread"] == 1


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


# --------------------------------------------------------------------------
# Real CSQA dialogs: the shared sample when present, else a real-format fixture.
REAL_SAMPLE = Path(__file__).resolve().parents[1].parent / "shared" / "csqa-sample"


def _real_format_dialogs() -> list[list[dict]]:
    """Two dialogs in CSQA's exact conventions (fields, clarification exchange,
    two-part replies, a count reply without digits)."""
    simple = {
        "ques_type_id": 1,
        "question-type": "Simple Question (Direct)",
        "description": "Simple Question",
        "entities_in_utterance": ["fr"],
        "relations": ["border"],
        "type_list": ["country"],
        "speaker": "USER",
        "utterance": "Which country borders France ?",
    }
    clar = {
        "ques_type_id": 3,
        "question-type": "Clarification",
        "description": "Simple Question|Single Entity|Indirect",
        "entities_in_utterance": ["pl"],
        "sec_ques_sub_type": 2,
        "relations": ["border"],
        "type_list": ["country"],
        "speaker": "USER",
        "sec_ques_type": 1,
        "utterance": "Which country borders that one ?",
    }
    ask = {
        "description": "Clarification for simple ques.",
        "entities_in_utterance": ["fr"],
        "active_set": ["(fr,border,c(country))", "(pl,border,c(country))"],
        "relations": [],
        "all_entities": ["fr", "pl"],
        "speaker": "SYSTEM",
        "utterance": "Did you mean France ?",
    }
    no = {
        "ques_type_id": 2,
        "question-type": "Simple Question (Coreferenced)",
        "entities": ["pl"],
        "speaker": "USER",
        "sec_ques_type": 1,
        "sec_ques_sub_type": 2,
        "utterance": "No, I meant Poland. Could you tell me the answer for that?",
    }
    yes = {**no, "utterance": "Yes"}
    del yes["entities"]
    verif = {
        "ques_type_id": 4,
        "question-type": "Verification (Boolean) (All)",
        "description": "Verification|2 entities, both direct",
        "bool_ques_type": 2,
        "entities_in_utterance": ["de", "fr", "pl"],
        "relations": ["border"],
        "type_list": [],
        "speaker": "USER",
        "utterance": "Does Germany border France and Poland respectively ?",
    }
    count = {
        "ques_type_id": 7,
        "question-type": "Quantitative Reasoning (Count) (All)",
        "description": "Quantitative|Count|Mult. entity type",
        "count_ques_type": 1,
        "count_ques_sub_type": 1,
        "is_incomplete": 0,
        "entities_in_utterance": ["oder"],
        "relations": ["flows"],
        "type_list": ["country", "city"],
        "speaker": "USER",
        "utterance": "How many countries and cities does the Oder flow through ?",
    }

    def system(text, ents=()):
        return {"speaker": "SYSTEM", "utterance": text, "all_entities": list(ents)}

    first = [
        simple,
        system("Germany", ["de"]),
        clar,
        ask,
        no,
        system("Germany", ["de"]),
        verif,
        system("YES and NO respectively"),
        count,
        system("2 countries and 0 cities"),
    ]
    second = [
        clar,
        {**ask, "utterance": "Did you mean Poland ?", "entities_in_utterance": ["pl"]},
        yes,
        system("Germany", ["de"]),
        count,
        system("I do not know"),
        clar,
        ask,  # a clarification question at the very end: no answer
    ]
    return [first, second]


def _raw_counts(folder) -> dict:
    """Counts straight from the JSON files, independent of the reader."""
    pairs = clar = dangling = 0
    for file in Path(folder).rglob("*.json"):
        dialog = json.loads(file.read_text("utf-8"))
        users = dialog[0::2]
        pairs += len(users)
        clar += sum(u.get("question-type") == "Clarification" for u in users)
        dangling += users[-1].get("question-type") == "Clarification"
    return {"pairs": pairs, "clarification questions": clar, "dangling": dangling}


def test_real_format_fixture_reads_every_pair_once(tmp_path):
    write_csqa(_real_format_dialogs(), tmp_path / "qa")
    with pytest.warns(UserWarning, match="1 count or verification"):
        turns, answers, counts = read_csqa(tmp_path / "qa", return_counts=True)
    raw = _raw_counts(tmp_path / "qa")
    assert counts["pairs"] == raw["pairs"] == 9
    assert counts["pairs"] == counts["turns"] + counts["clarifications"] + counts["dangling"]
    assert counts["clarifications"] + counts["dangling"] == raw["clarification questions"]
    assert answers == [["de"], ["de"], [True, False], [2, 0], ["de"], None]
    assert counts["two_part"] == 2 and counts["unread"] == 1
    clar = turns[1]
    assert clar["question-type"] == "Clarification"
    assert clar["utterance"] == "Which country borders that one ?"
    assert clar["clarification"]["system"]["utterance"] == "Did you mean France ?"
    assert clar["clarification"]["user"]["entities"] == ["pl"]
    # The candidates of "Did you mean" are never the gold answer.
    assert answers[1] != clar["clarification"]["system"]["all_entities"]
    # Sub-type fields stay on the turn.
    assert clar["sec_ques_type"] == 1 and turns[3]["count_ques_sub_type"] == 1
    assert turns[2]["previous"]["user"]["utterance"] == clar["utterance"]
    assert turns[4]["clarification"]["user"]["utterance"] == "Yes"


def test_two_part_answers_are_scored_whole():
    qts = ["Verification (Boolean) (All)", "Quantitative Reasoning (Count) (All)"]
    s = csqa_scores([[True, False], [2, 1]], [[True, False], [2, 0]], qts)
    assert s[qts[0]]["accuracy"] == 1.0 and s[qts[1]]["accuracy"] == 0.0
    assert answer_score([1, 0], [True, False]) == 0.0  # 1 is not True


def test_csqa_scores_micro_and_macro_against_hand_counts():
    qt = ["Logical Reasoning (All)"] * 3
    pred = [["a", "b"], ["c"], 4]
    gold = [["a"], ["c", "d", "e"], ["f"]]
    micro = csqa_scores(pred, gold, qt)[qt[0]]
    # TP = 1 + 1 + 0, FP = 1 + 0 + 0, FN = 0 + 2 + 1.
    assert micro["precision"] == pytest.approx(2 / 3)
    assert micro["recall"] == pytest.approx(2 / 5)
    assert micro["f1"] == pytest.approx(2 * (2 / 3) * (2 / 5) / (2 / 3 + 2 / 5))
    macro = csqa_scores(pred, gold, qt, macro=True)[qt[0]]
    assert macro["precision"] == pytest.approx((0.5 + 1 + 0) / 3)
    assert macro["recall"] == pytest.approx((1 + 1 / 3 + 0) / 3)
    with pytest.raises(ValueError, match="same length"):
        csqa_scores(pred, gold[:2], qt)
    unscored = csqa_scores([1], [None], ["Quantitative Reasoning (Count) (All)"])
    assert unscored["Quantitative Reasoning (Count) (All)"]["unscored"] == 1
    with pytest.raises(ValueError, match="unread"):
        answer_score(1, None)


@pytest.fixture(scope="module")
def real_sample(tmp_path_factory):
    if not REAL_SAMPLE.is_dir():
        pytest.skip("the real CSQA sample (../shared/csqa-sample) is not present")
    folder = tmp_path_factory.mktemp("csqa")
    with tarfile.open(REAL_SAMPLE / "dialogs.tar.xz") as tar:
        tar.extractall(folder, filter="data")
    return folder


def test_real_sample_counts_clarifications_and_two_part_answers(real_sample):
    turns, answers, counts = read_csqa(real_sample, return_counts=True)
    raw = _raw_counts(real_sample)
    assert counts["dialogs"] == 317 and counts["pairs"] == raw["pairs"] == 3353
    assert counts["clarifications"] == raw["clarification questions"] == 160
    assert counts["turns"] == 3353 - 160 and counts["dangling"] == counts["unread"] == 0
    # Every real question carries a description; resolutions ("Yes", "No, I
    # meant ...") do not: one turn per described question.
    described = sum(
        "description" in u
        for f in real_sample.rglob("*.json")
        for u in json.loads(f.read_text("utf-8"))[0::2]
    )
    assert described == counts["turns"]
    for turn, answer in zip(turns, answers, strict=True):
        if "clarification" in turn:
            assert turn["question-type"] == "Clarification" and "relations" in turn
            assert turn["clarification"]["system"]["utterance"].startswith("Did you mean")
            candidates = turn["clarification"]["system"]["all_entities"]
            assert answer is not None and (not candidates or answer != candidates)
    by_type: dict = {}
    for turn, answer in zip(turns, answers, strict=True):
        if isinstance(answer, list) and answer and not isinstance(answer[0], str):
            by_type.setdefault(turn["question-type"], []).append(answer)
    # 37 "YES and NO respectively"-style replies, 21 "N X and N Y" counts.
    assert len(by_type["Verification (Boolean) (All)"]) == 37
    assert all(len(a) == 2 for v in by_type.values() for a in v)
    assert sum(len(v) for v in by_type.values()) == counts["two_part"] == 58


def test_real_graph_files_keep_their_documented_meanings():
    if not REAL_SAMPLE.is_dir():
        pytest.skip("the real CSQA sample (../shared/csqa-sample) is not present")
    folder = REAL_SAMPLE / "kg"
    kg = KnowledgeGraph.from_csqa_folder(folder)
    type_labels = json.loads((folder / "child_par_dict_name_2_corr.json").read_text("utf-8"))
    ent_type = json.loads((folder / "child_par_dict_save.json").read_text("utf-8"))
    assert len(kg.types) == 205 and kg.n_triples == 5148
    assert kg.types == set(ent_type.values())
    for e, t in list(ent_type.items())[:200]:
        assert kg.types_of(e) == {t}
    for t, text in type_labels.items():
        assert t in kg.types and kg.label(t) == text


def test_node_budget_makes_search_deterministic():
    kg, turns, answers, _ = make_dataset(3, n_entities=200, random_state=1)
    free = [Searcher(kg, max_results=3).search(t, a) for t, a in zip(turns, answers, strict=True)]
    budget = max(r.n_candidates for r in free) // 2
    pairs = list(zip(turns, answers, strict=True))
    searchers = [Searcher(kg, max_nodes=budget, max_results=3) for _ in (0, 1)]
    runs = [[s.search(*p) for p in pairs] for s in searchers]
    assert [[str(f) for f in r.forms] for r in runs[0]] == [
        [str(f) for f in r.forms] for r in runs[1]
    ]
    assert any(r.n_candidates == budget for r in runs[0])
    assert all(r.n_candidates <= budget for r in runs[0])
    assert {r.status for r in free} == {"found"}
    with pytest.raises(ValueError, match="max_nodes must be a positive integer"):
        Searcher(kg, max_nodes=0)


def test_generator_writes_the_real_clarification_convention():
    kg, turns, answers, forms = make_dataset(6, n_entities=300, random_state=0)
    clar = [i for i, t in enumerate(turns) if t["question-type"] == "Clarification"]
    assert clar
    for i in clar:
        turn = turns[i]
        assert turn["relations"] and turn["type_list"]  # the ambiguous question
        ask = turn["clarification"]["system"]["utterance"]
        assert ask.startswith("Did you mean") and ask.endswith(" ?")
        assert turn["clarification"]["user"]["utterance"].split(",")[0] in ("Yes", "No")
        assert execute(forms[i], kg, turn) == answers[i]


# ---------------------------------------------------------------------------
# "Mult. entity type" questions: counts summed over two types, two-part answers

MULTI_KG = KnowledgeGraph(
    [
        ("ca", "member", "nato"),
        ("ca", "member", "g7"),
        ("ca", "member", "oas"),
        ("us", "member", "nato"),
        ("us", "member", "g7"),
        ("mx", "member", "oas"),
    ],
    entity_types={
        "ca": "country",
        "us": "country",
        "mx": "country",
        "nato": "bloc",
        "oas": "bloc",
        "g7": "group",
    },
)


def test_two_type_counts_and_two_part_answers_execute_by_hand():
    ex = Executor(MULTI_KG)
    # ca: 2 blocs + 1 group, us: 1 + 1, mx: 1 + 0.
    counts = ex.evaluate(parse("argmax(count_each2(all(country), member, bloc, group))").args[0])
    assert counts == {"ca": 3, "us": 2, "mx": 1}
    rev = ex.evaluate(
        parse("argmax(count_each2_reverse(all(bloc), member, country, group))").args[0]
    )
    assert rev == {"nato": 2, "oas": 2}
    assert ex.execute("argmax(count_each2(all(country), member, bloc, group))") == ["ca"]
    assert ex.execute("greater(count_each2(all(country), member, bloc, group), 1)") == [
        "ca",
        "us",
    ]
    lf = "pair_num(count(filter(find(ca, member), bloc)), count(filter(find(ca, member), group)))"
    assert ex.execute(lf) == [2, 1]
    lf = "pair_bool(is_in(nato, find(mx, member)), is_in(oas, find(mx, member)))"
    assert ex.execute(lf) == [False, True]
    # Printing and reading back; a two-part answer only at the top of a form.
    assert str(parse(lf)) == lf and parse(lf).kind == "pair"
    with pytest.raises(LogicalFormTypeError, match="two-part"):
        parse(f"count({lf})")
    with pytest.raises(LogicalFormTypeError, match="takes 4 argument"):
        parse("argmax(count_each2(all(country), member, bloc))")
    assert "pair_num" in PrefixState().allowed()["ops"]
    assert linearize(parse(lf))[0] == ("op", "pair_bool")
    # Two-part answers compare in order, keeping ints and bools apart.
    assert answers_equal([2, 1], [2, 1]) and not answers_equal([2, 1], [1, 2])
    assert not answers_equal([1, 0], [True, False]) and not answers_equal([1, 2], [1, 2, 3])


def test_search_finds_two_type_counts_and_two_part_answers():
    def turn(text, entities, types):
        return {
            "utterance": text,
            "entities_in_utterance": entities,
            "relations": ["member"],
            "type_list": types,
        }

    # "1 trade blocs and 2 social groups": one count per type, in order.
    t = turn("How many blocs and groups is ca a member of ?", ["ca"], ["bloc", "group"])
    res = search(t, [2, 1], MULTI_KG)
    assert str(res.best) == (
        "pair_num(count(filter(find(ca, member), bloc)), count(filter(find(ca, member), group)))"
    )
    assert str(search(t, [1, 2], MULTI_KG).best).startswith(
        "pair_num(count(filter(find(ca, member), group))"
    )
    # "NO and YES respectively".
    t = turn("Is mx a member of nato and oas ?", ["mx", "nato", "oas"], ["country"])
    assert str(search(t, [False, True], MULTI_KG).best) == (
        "pair_bool(is_in(nato, find(mx, member)), is_in(oas, find(mx, member)))"
    )
    # Superlative and comparison summed over two types.
    t = turn(
        "Which countries are members of the max number of blocs and groups ?",
        [],
        ["country", "bloc", "group"],
    )
    assert str(search(t, ["ca"], MULTI_KG).best) == (
        "argmax(count_each2(all(country), member, bloc, group))"
    )
    t = turn(
        "How many countries are members of exactly 3 blocs and groups ?",
        [],
        ["country", "bloc", "group"],
    )
    res = search(t, 1, MULTI_KG, max_results=5)
    # Several forms fit this tiny graph; those using all three types (two-type
    # counts) rank first, and the question's is among them.
    assert all("count_each2" in str(f) for f in res.forms)
    assert "count(equal(count_each2(all(country), member, bloc, group), 3))" in map(str, res)
    # Malformed multi-part answers are an error row, not an exception.
    assert search(t, [1, 2, 3], MULTI_KG).status == "error"
    assert search(t, [1, True], MULTI_KG).status == "error"


# ---------------------------------------------------------------------------
# Compact storage and streaming of CSQA's graph files


def test_streamed_folder_matches_loaded_dictionaries(kg, tmp_path):
    from sktheory.logical_form._store import iter_json_object

    kg.to_csqa_folder(tmp_path)
    data = json.loads((tmp_path / "wikidata_short_1.json").read_text("utf-8"))
    # Tiny chunks make every entry straddle a read boundary.
    assert dict(iter_json_object(tmp_path / "wikidata_short_1.json", chunk_size=3)) == data
    loaded = KnowledgeGraph.from_csqa_folder(tmp_path)
    assert list(loaded.triples()) == list(kg.triples())
    assert loaded.entities == kg.entities and loaded.types == kg.types
    for s, r, o in kg.triples():
        assert o in loaded.objects(s, r) and s in loaded.subjects(o, r)
    assert loaded.objects("fr", "no-such-relation") == frozenset()
    assert loaded.members("no-such-type") == frozenset() and "atlantis" not in loaded.entities
    # The nodes the search's counting iterates over agree with the triples.
    assert loaded.nodes_with("border") == {s for s, r, _ in kg.triples() if r == "border"}
    assert loaded.nodes_with("border", as_subject=False) == {
        o for _, r, o in kg.triples() if r == "border"
    }
    assert loaded.nodes_with("nope") == frozenset()
    assert loaded.nbytes > 0


def test_later_entity_type_file_wins_and_members_add(tmp_path):
    (tmp_path / "wikidata_short_1.json").write_text('{"a": {"p": ["b", "b"]}}')
    (tmp_path / "child_par_dict_save.json").write_text('{"a": "T1", "b": "T1"}')
    (tmp_path / "child_par_dict_immed.json").write_text('{"a": "T2"}')
    (tmp_path / "par_child_dict.json").write_text('{"T3": ["a"]}')
    kg = KnowledgeGraph.from_csqa_folder(tmp_path)
    assert kg.n_triples == 1  # duplicates dropped
    assert kg.types_of("a") == {"T2", "T3"} and kg.types_of("b") == {"T1"}
    assert kg.members("T1") == {"b"} and kg.types == {"T1", "T2", "T3"}


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("", "empty"),
        ("[1]", "expected an object"),
        ('{"a": 1,}', "expected a key"),
        ('{"a" 1}', "expected ':'"),
        ('{"a": 1} x', "extra data"),
    ],
)
def test_streaming_reader_refuses_malformed_json(tmp_path, text, fragment):
    from sktheory.logical_form._store import iter_json_object

    (tmp_path / "f.json").write_text(text)
    with pytest.raises(ValueError, match="malformed CSQA JSON") as info:
        list(iter_json_object(tmp_path / "f.json"))
    assert fragment in str(info.value)


# ---------------------------------------------------------------------------
# fetch_csqa (no network: file:// URLs and a patched opener)


def test_fetch_csqa_downloads_verifies_and_caches(tmp_path):
    import hashlib

    from sktheory.logical_form import fetch_csqa

    src = tmp_path / "src.zip"
    src.write_bytes(b"csqa dialogs")
    digest = hashlib.sha256(b"csqa dialogs").hexdigest()
    home = tmp_path / "home"
    kwargs = {"parts": ("dialogs",), "urls": {"CSQA_v9.zip": src.as_uri()}}
    paths = fetch_csqa(home, checksums={"CSQA_v9.zip": digest}, **kwargs)
    assert paths["CSQA_v9.zip"] == home / "csqa" / "CSQA_v9.zip"
    assert paths["CSQA_v9.zip"].read_bytes() == b"csqa dialogs"

    def no_network(url):
        raise AssertionError(f"downloaded {url} again")

    again = fetch_csqa(home, checksums={"CSQA_v9.zip": digest}, opener=no_network, **kwargs)
    assert again == paths
    with pytest.raises(OSError, match="download_if_missing is False"):
        fetch_csqa(tmp_path / "empty", download_if_missing=False, parts=("wikidata",))


def test_fetch_csqa_checksum_mismatch_and_bad_parts(tmp_path):
    import io

    from sktheory.logical_form import fetch_csqa

    calls = []

    def opener(url):
        calls.append(url)
        return io.BytesIO(b"tampered")

    with pytest.raises(ValueError, match="checksum mismatch"):
        fetch_csqa(
            tmp_path,
            parts=("wikidata",),
            checksums={"wikidata_proc_json.zip": "0" * 64},
            opener=opener,
        )
    assert calls == ["https://zenodo.org/records/4052427/files/wikidata_proc_json.zip"]
    assert not list((tmp_path / "csqa").iterdir())  # nothing half-written is kept
    with pytest.raises(ValueError, match="unknown CSQA parts"):
        fetch_csqa(tmp_path, parts=("graph",))
