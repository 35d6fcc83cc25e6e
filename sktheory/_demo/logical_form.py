"""Demo of :class:`~sktheory.logical_form.LogicalFormParser`: CSQA-style
question answering on a graph never seen in training."""

from __future__ import annotations

from sktheory._demo import DemoRow, register


@register("LogicalFormParser")
def logical_form_demo(random_state: int = 0) -> DemoRow:
    """Fit from answers on one generated graph, score on turns about another."""
    from sktheory.logical_form import LogicalFormParser, make_dataset

    kg, turns, answers, _ = make_dataset(20, n_entities=300, random_state=random_state)
    kg_test, t_test, a_test, _ = make_dataset(8, n_entities=300, random_state=random_state + 1)
    params = dict(kg=kg, max_epochs=30, random_state=random_state)
    model = LogicalFormParser(**params).fit(turns, answers)
    base = LogicalFormParser(context="utterance", **params).fit(turns, answers)
    return {
        "task": "CSQA-style QA on an unseen graph",
        "metric": "answer score",
        "score": model.score(t_test, a_test, kg=kg_test),
        "baseline": "utterance-only encoder",
        "baseline_score": base.score(t_test, a_test, kg=kg_test),
    }
