"""Logical forms over a knowledge graph, for conversational question answering.

The building blocks of weakly supervised semantic parsing in the style of
CSQA (see ``PAPERS.md``, section 7):

- :mod:`.grammar`: typed logical forms, their textual syntax (parsed by lark,
  never evaluated), printer, type checker and prefix linearization;
- :mod:`.kg`: :class:`KnowledgeGraph`, an indexed in-memory graph loadable
  from CSQA's JSON dictionaries and from rdflib graphs;
- :mod:`.executor`: :func:`execute` with documented rules for empty results;
- :mod:`.sparql`: the same forms compiled to SPARQL and run by rdflib;
- :mod:`.csqa`: CSQA dialog readers/writers, self-contained turns, metric;
- :mod:`.generator`: seeded synthetic graphs and conversations covering every
  CSQA question type, with gold answers and forms;
- :mod:`.supervision`: weak-supervision search with a coverage report.

Examples
--------
>>> from sktheory.logical_form import execute, load_sample, parse, search
>>> kg, turns, answers = load_sample()
>>> result = search(turns[0], answers[0], kg)
>>> result.status
'found'
>>> execute(result.best, kg, turns[0]) == answers[0]
True
"""

from importlib import resources

from ._fetch import fetch_csqa, get_data_home
from .csqa import (
    ACCURACY_TYPES,
    COUNT_TYPES,
    QUESTION_TYPES,
    answer_from_turns,
    answer_score,
    csqa_scores,
    dialog_to_turns,
    read_csqa,
    read_dialog,
    validate_turn,
    write_csqa,
    write_dialog,
)
from .executor import Executor, answers_equal, execute, previous_refs
from .generator import make_dataset, make_dialogs, make_knowledge_graph
from .grammar import (
    KINDS,
    OPERATORS,
    REFERENCES,
    Entity,
    LogicalForm,
    LogicalFormError,
    LogicalFormSyntaxError,
    LogicalFormTypeError,
    Number,
    Op,
    PrefixState,
    Reference,
    Relation,
    Signature,
    Type,
    check,
    from_linear,
    linearize,
    parse,
    size,
    symbols,
)
from .kg import KnowledgeGraph, UnknownSymbolError
from .parser import LogicalFormParser
from .sparql import SparqlExecutor, to_sparql
from .supervision import (
    CANDIDATE_MODES,
    CoverageReport,
    Searcher,
    SearchResult,
    SymbolRanker,
    candidate_symbols,
    coverage_report,
    search,
    search_many,
)

__all__ = [
    "ACCURACY_TYPES",
    "CANDIDATE_MODES",
    "COUNT_TYPES",
    "KINDS",
    "OPERATORS",
    "QUESTION_TYPES",
    "REFERENCES",
    "CoverageReport",
    "Entity",
    "Executor",
    "KnowledgeGraph",
    "LogicalForm",
    "LogicalFormError",
    "LogicalFormParser",
    "LogicalFormSyntaxError",
    "LogicalFormTypeError",
    "Number",
    "Op",
    "PrefixState",
    "Reference",
    "Relation",
    "SearchResult",
    "Searcher",
    "Signature",
    "SparqlExecutor",
    "SymbolRanker",
    "Type",
    "UnknownSymbolError",
    "answer_from_turns",
    "answer_score",
    "answers_equal",
    "candidate_symbols",
    "check",
    "coverage_report",
    "csqa_scores",
    "dialog_to_turns",
    "execute",
    "fetch_csqa",
    "from_linear",
    "get_data_home",
    "linearize",
    "load_sample",
    "make_dataset",
    "make_dialogs",
    "make_knowledge_graph",
    "parse",
    "previous_refs",
    "read_csqa",
    "read_dialog",
    "sample_path",
    "search",
    "search_many",
    "size",
    "symbols",
    "to_sparql",
    "validate_turn",
    "write_csqa",
    "write_dialog",
]


def sample_path():
    """Folder of the shipped sample of a small generated data set.

    Returns
    -------
    importlib.resources.abc.Traversable
        The folder, holding ``kg/`` (CSQA knowledge-graph files) and
        ``dialogs/`` (CSQA dialog files).
    """
    return resources.files(__package__).joinpath("data")


def load_sample():
    """The shipped sample: ``(kg, turns, answers)``.

    A small seeded graph and conversations covering every CSQA question type,
    read back through the CSQA readers (:meth:`KnowledgeGraph.from_csqa_folder`
    and :func:`read_csqa`).

    Returns
    -------
    kg : KnowledgeGraph
        The sample graph.
    turns : list of dict
        The self-contained turns of every dialog.
    answers : list
        Their gold answers.
    """
    with resources.as_file(sample_path()) as folder:
        kg = KnowledgeGraph.from_csqa_folder(folder / "kg")
        turns, answers = read_csqa(folder / "dialogs")
    return kg, turns, answers
