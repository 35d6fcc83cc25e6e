"""Readers and writers for CSQA's dialog JSON, self-contained turns, and metrics.

A CSQA dialog file is a JSON list of alternating user and system turns::

    [{"speaker": "USER", "question-type": "Simple Question (Direct)",
      "ques_type_id": 1, "description": "Simple Question",
      "entities_in_utterance": ["Q961955"], "relations": ["P17"],
      "type_list": ["Q15617994"], "utterance": "..."},
     {"speaker": "SYSTEM", "all_entities": ["Q142"], "utterance": "France"},
     ...]

:func:`dialog_to_turns` turns a dialog into self-contained *turns*: the user
turn's CSQA fields (all of them: ``description``, ``ques_type_id``,
``sec_ques_type``, ... stay on the turn for per-sub-type scoring) plus
``"previous": {"user": ..., "system": ...}`` holding the previous user and
system turns (without their own ``"previous"``), so that rows can be shuffled.

Answers
-------
Each turn's *answer* is a list of entity ids (the system's ``all_entities``),
an ``int`` (count question types: the number in the system utterance) or a
``bool`` (verification: the utterance is ``YES`` or ``NO``). Two-part answers
of CSQA's "Mult. entity type" questions are kept as lists in the order the
system gives them: ``"YES and NO respectively"`` is ``[True, False]`` and
``"1 trade blocs and 2 social groups"`` is ``[1, 2]`` (the logical forms
``pair_num`` and ``pair_bool`` produce them). A count or
verification reply that cannot be read (no number, no yes/no) gives the answer
``None``; the turn is still yielded, :func:`read_csqa` warns, and metrics
leave it out (see :func:`answer_score`).

Clarification
-------------
In CSQA the *ambiguous question* is the user turn typed ``"Clarification"``;
the system replies ``"Did you mean X ?"`` (its ``all_entities`` are the
candidates), the next user turn (``"Yes"`` or ``"No, I meant Y. Could you
tell me the answer for that?"``, without ``description``, ``relations`` or
``type_list``; ``entities`` names Y) gets the real answer. The exchange yields
ONE turn: the ambiguous question's text and annotations, question type
``"Clarification"``, the key ``"clarification"`` holding ``{"system": the
"Did you mean" turn, "user": the resolution turn}``, and the final answer
(read by the resolution turn's question type, so a clarified count question
has a count answer). The turn after the exchange sees the ambiguous question
and the final answer as its ``previous``.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

__all__ = [
    "ACCURACY_TYPES",
    "COUNT_TYPES",
    "QUESTION_TYPES",
    "answer_from_turns",
    "answer_score",
    "csqa_scores",
    "dialog_to_turns",
    "read_csqa",
    "read_dialog",
    "validate_turn",
    "write_csqa",
    "write_dialog",
]

#: CSQA's question types, in the order the paper reports them.
QUESTION_TYPES = (
    "Simple Question (Direct)",
    "Simple Question (Coreferenced)",
    "Simple Question (Ellipsis)",
    "Logical Reasoning (All)",
    "Quantitative Reasoning (All)",
    "Comparative Reasoning (All)",
    "Quantitative Reasoning (Count) (All)",
    "Comparative Reasoning (Count) (All)",
    "Verification (Boolean) (All)",
    "Clarification",
)
#: Question types answered by a number.
COUNT_TYPES = (
    "Quantitative Reasoning (Count) (All)",
    "Comparative Reasoning (Count) (All)",
)
VERIFICATION_TYPE = "Verification (Boolean) (All)"
_LIST_FIELDS = ("entities_in_utterance", "relations", "type_list")


def validate_turn(turn, where: str = "turn") -> None:
    """Raise ``ValueError`` naming the field if a turn dict is malformed.

    Required: ``utterance`` (str). Optional: ``question-type`` (str),
    ``entities_in_utterance``, ``relations``, ``type_list`` (lists of str),
    ``previous`` (dict with optional ``user`` and ``system`` dicts; the system
    turn's ``all_entities`` a list of str).

    Parameters
    ----------
    turn : dict
        The turn to check.
    where : str, default="turn"
        How the error message names the turn.

    Raises
    ------
    ValueError
        If the turn or one of its fields is malformed; the message names the
        field.
    """
    if not isinstance(turn, Mapping):
        raise ValueError(f"{where} must be a dict, got {type(turn).__name__}")
    if not isinstance(turn.get("utterance", None), str):
        raise ValueError(f"{where}: 'utterance' must be a string, got {turn.get('utterance')!r}")
    qt = turn.get("question-type")
    if qt is not None and not isinstance(qt, str):
        raise ValueError(f"{where}: 'question-type' must be a string, got {qt!r}")
    for key in _LIST_FIELDS:
        _check_ids(turn.get(key), f"{where}: {key!r}")
    prev = turn.get("previous")
    if prev is None:
        return
    if not isinstance(prev, Mapping):
        raise ValueError(f"{where}: 'previous' must be a dict, got {type(prev).__name__}")
    user, system = prev.get("user"), prev.get("system")
    if user is not None:
        if not isinstance(user, Mapping):
            raise ValueError(f"{where}: previous 'user' must be a dict")
        for key in _LIST_FIELDS:
            _check_ids(user.get(key), f"{where}: previous user {key!r}")
    if system is not None:
        if not isinstance(system, Mapping):
            raise ValueError(f"{where}: previous 'system' must be a dict")
        _check_ids(system.get("all_entities"), f"{where}: previous system 'all_entities'")


def _check_ids(value, where: str) -> None:
    if value is None:
        return
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise ValueError(f"{where} must be a list of ids, got {value!r}")
    for v in value:
        if not isinstance(v, str):
            raise ValueError(f"{where} must hold strings, got {v!r}")


# A count at the start of the reply or after "and" ("1 trade blocs and 2 social
# groups"); digits inside a type label are not counts.
_COUNT = re.compile(r"(?:^|\band\s+)(-?\d+)\b")
_COUNT_WORDS = {
    w: i
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve".split()
    )
} | {"no": 0, "none": 0}
_YES_NO = re.compile(r"\b(yes|no)\b")


def _read_count(text: str):
    nums = [int(m) for m in _COUNT.findall(text.strip())]
    if not nums:
        words = re.findall(r"[a-z]+", text.lower())
        nums = [_COUNT_WORDS[w] for w in words[:1] if w in _COUNT_WORDS]
    if not nums:
        return None
    return nums[0] if len(nums) == 1 else nums


def _read_boolean(text: str):
    words = [w == "yes" for w in _YES_NO.findall(text.lower())]
    if not words:
        return None
    return words[0] if len(words) == 1 else words


def answer_from_turns(user: Mapping, system: Mapping):
    """The answer of one (user, system) pair.

    An ``int`` for count question types (the number the system utterance
    starts with), a ``bool`` for verification (``YES``/``NO``), a list of them
    for two-part replies (``"2 cities and 3 rivers"`` -> ``[2, 3]``, ``"YES and
    NO respectively"`` -> ``[True, False]``), ``None`` when such a reply has no
    number or yes/no; otherwise the system's ``all_entities``.

    Parameters
    ----------
    user : dict
        The user turn; its ``"question-type"`` decides how the reply is read.
    system : dict
        The system turn: its ``"utterance"`` and ``"all_entities"``.

    Returns
    -------
    list of str, int, bool, list or None
        Entity ids, a count, a truth value, the parts of a two-part answer,
        or None for a count or verification reply that could not be read.

    Raises
    ------
    ValueError
        If ``all_entities`` is malformed.

    Examples
    --------
    >>> from sktheory.logical_form import answer_from_turns
    >>> count = {"question-type": "Quantitative Reasoning (Count) (All)"}
    >>> answer_from_turns(count, {"utterance": "1 trade blocs and 2 social groups"})
    [1, 2]
    >>> answer_from_turns({"question-type": "Verification (Boolean) (All)"},
    ...                   {"utterance": "NO and YES respectively"})
    [False, True]
    """
    qt = user.get("question-type", "")
    text = system.get("utterance", "") or ""
    if qt in COUNT_TYPES:
        return _read_count(text)
    if qt == VERIFICATION_TYPE:
        return _read_boolean(text)
    entities = system.get("all_entities", [])
    _check_ids(entities, "system 'all_entities'")
    return list(entities)


def read_dialog(source) -> list[dict]:
    """Read one CSQA dialog: a path to a JSON file, or an already loaded list.

    Parameters
    ----------
    source : str, path-like or list of dict
        A CSQA dialog file, or its turns already loaded.

    Returns
    -------
    list of dict
        The dialog's turns, alternating user and system, validated.

    Raises
    ------
    ValueError
        If the file is not UTF-8, the JSON is malformed or the turns do not
        alternate user/system (the message names the file and the turn index).
    """
    name = "dialog"
    if isinstance(source, (str, os.PathLike)):
        name = str(source)
        try:
            source = json.loads(Path(source).read_text("utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"malformed CSQA JSON in {name}: {exc}") from None
        except UnicodeDecodeError as exc:
            raise ValueError(f"CSQA dialog file {name} is not valid UTF-8: {exc}") from None
    if not isinstance(source, list):
        raise ValueError(
            f"malformed CSQA dialog in {name}: expected a list of turns, "
            f"got {type(source).__name__}"
        )
    for i, turn in enumerate(source):
        if not isinstance(turn, Mapping):
            raise ValueError(f"malformed CSQA dialog in {name}: turn {i} is not an object")
        speaker = turn.get("speaker")
        want = "USER" if i % 2 == 0 else "SYSTEM"
        if speaker is not None and speaker != want:
            raise ValueError(
                f"malformed CSQA dialog in {name}: turn {i} should be spoken by {want}, "
                f"got {speaker!r}"
            )
        if not isinstance(turn.get("utterance"), str):
            raise ValueError(f"malformed CSQA dialog in {name}: turn {i} has no utterance")
        if want == "USER":
            try:
                validate_turn(turn, f"turn {i}")
            except ValueError as exc:
                raise ValueError(f"malformed CSQA dialog in {name}: {exc}") from None
        else:
            _check_ids(turn.get("all_entities"), f"{name}: turn {i} 'all_entities'")
    if len(source) % 2:
        raise ValueError(f"malformed CSQA dialog in {name}: a user turn has no system reply")
    return list(source)


def _strip(turn: Mapping) -> dict:
    return {k: v for k, v in turn.items() if k != "previous"}


def dialog_to_turns(dialog: Sequence[Mapping]) -> tuple[list[dict], list]:
    """Self-contained turns and their answers from one dialog.

    Every question-answer pair gives one turn, except a clarification
    exchange (a user turn typed ``"Clarification"``, the system's "Did you
    mean" reply, the user's resolution and the final answer), which gives one
    turn marked with a ``"clarification"`` key (see the module docstring). A
    ``"Clarification"`` question at the very end of a dialog has no answer and
    gives no turn.

    Parameters
    ----------
    dialog : sequence of dict
        One CSQA dialog's turns, alternating user and system.

    Returns
    -------
    turns : list of dict
        The self-contained turns, each with its ``"previous"`` user and system
        turns (None for the first).
    answers : list
        Each turn's answer, as :func:`answer_from_turns` reads it.

    Raises
    ------
    TypeError
        If ``dialog`` is not a list of turn dicts (a file path goes to
        :func:`read_dialog` or :func:`read_csqa` instead).
    ValueError
        If the turns are malformed (see :func:`read_dialog`).

    Examples
    --------
    >>> from sktheory.logical_form import dialog_to_turns
    >>> dialog = [
    ...     {"speaker": "USER", "question-type": "Clarification",
    ...      "utterance": "Who is his father ?",
    ...      "entities_in_utterance": ["Q2"], "relations": ["P22"], "type_list": ["Q5"]},
    ...     {"speaker": "SYSTEM", "utterance": "Did you mean Ann ?", "all_entities": ["Q1", "Q2"]},
    ...     {"speaker": "USER", "question-type": "Simple Question (Coreferenced)",
    ...      "utterance": "No, I meant Bob. Could you tell me the answer for that?",
    ...      "entities": ["Q2"]},
    ...     {"speaker": "SYSTEM", "utterance": "Carl", "all_entities": ["Q3"]}]
    >>> turns, answers = dialog_to_turns(dialog)
    >>> turns[0]["utterance"], turns[0]["question-type"], answers
    ('Who is his father ?', 'Clarification', [['Q3']])
    >>> turns[0]["clarification"]["user"]["entities"]
    ['Q2']
    """
    if isinstance(dialog, (str, bytes, os.PathLike, Mapping)) or not isinstance(dialog, Iterable):
        raise TypeError(
            "dialog_to_turns expects one CSQA dialog as a list of turn dicts, got "
            f"{type(dialog).__name__}; read a file with read_dialog(path) or read_csqa(path)."
        )
    turns, answers, _ = _dialog_turns(read_dialog(list(dialog)))
    return turns, answers


def _dialog_turns(dialog: list) -> tuple[list[dict], list, int]:
    """Turns, answers and the number of unanswered trailing clarifications."""
    pairs = [(dialog[i], dialog[i + 1]) for i in range(0, len(dialog), 2)]
    turns, answers = [], []
    previous = None
    dangling = 0
    k = 0
    while k < len(pairs):
        user, system = pairs[k]
        turn = _strip(user)
        if user.get("question-type") == "Clarification":
            if k + 1 == len(pairs):
                dangling += 1
                break
            resolution, final = pairs[k + 1]
            turn["clarification"] = {"system": _strip(system), "user": _strip(resolution)}
            answer = answer_from_turns(resolution, final)
            system = final
            k += 2
        else:
            answer = answer_from_turns(user, system)
            k += 1
        turn["previous"] = previous
        turns.append(turn)
        answers.append(answer)
        shown = {key: v for key, v in turn.items() if key not in ("previous", "clarification")}
        previous = {"user": shown, "system": _strip(system)}
    return turns, answers, dangling


def read_csqa(path, *, return_counts: bool = False):
    """Read a CSQA dialog file, or every ``*.json`` under a folder (sorted).

    Parameters
    ----------
    path : str or path-like
        A dialog file or a folder (searched recursively, e.g. CSQA's
        ``train/QA_*/QA_*.json``).
    return_counts : bool, default=False
        Also return a dict of counts: ``dialogs``, ``pairs`` (user/system
        pairs), ``turns``, ``clarifications`` (exchanges, two pairs each),
        ``dangling`` (clarification questions without an answer),
        ``two_part`` (list answers of counts/booleans) and ``unread``
        (answers ``None``). ``pairs == turns + clarifications + dangling``.

    Returns
    -------
    turns : list of dict
        Self-contained turns (see the module docstring).
    answers : list
        Their answers.
    counts : dict
        Only with ``return_counts=True``.

    Warns
    -----
    UserWarning
        When some count or verification replies could not be read (their
        answers are ``None``).
    """
    path = Path(path)
    if path.is_dir():
        files = sorted(path.rglob("*.json"), key=lambda p: _natural_key(p.relative_to(path)))
        if not files:
            raise FileNotFoundError(f"no CSQA dialog files (*.json) under {path}")
    elif path.exists():
        files = [path]
    else:
        raise FileNotFoundError(f"no such CSQA file or folder: {path}")
    turns, answers = [], []
    counts = dict.fromkeys(
        ("dialogs", "pairs", "turns", "clarifications", "dangling", "two_part", "unread"), 0
    )
    for file in files:
        dialog = read_dialog(file)
        t, a, dangling = _dialog_turns(dialog)
        turns += t
        answers += a
        counts["dialogs"] += 1
        counts["pairs"] += len(dialog) // 2
        counts["dangling"] += dangling
    counts["turns"] = len(turns)
    counts["clarifications"] = sum("clarification" in t for t in turns)
    counts["two_part"] = sum(isinstance(a, list) and _is_multi(a) for a in answers)
    counts["unread"] = sum(a is None for a in answers)
    if counts["unread"]:
        warnings.warn(
            f"{counts['unread']} count or verification answers in {path} could not be read "
            "(no number or yes/no); their answers are None and metrics leave them out.",
            UserWarning,
            stacklevel=2,
        )
    return (turns, answers, counts) if return_counts else (turns, answers)


def _is_multi(answer) -> bool:
    """A two-part count/boolean answer (a list of ints or bools, not of ids)."""
    return bool(answer) and all(isinstance(a, (bool, int)) for a in answer)


def _natural_key(p: Path):
    return [int(s) if s.isdigit() else s for s in re.split(r"(\d+)", str(p))]


def write_dialog(dialog: Sequence[Mapping], path) -> None:
    """Write one dialog as a CSQA JSON file (validated first).

    Parameters
    ----------
    dialog : sequence of dict
        The dialog's turns, alternating user and system.
    path : str or path-like
        The file to write; missing parent folders are created.

    Raises
    ------
    ValueError
        If the dialog is malformed (see :func:`read_dialog`).
    """
    dialog = read_dialog(list(dialog))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dialog, ensure_ascii=False, indent=1), "utf-8")


def write_csqa(dialogs: Sequence[Sequence[Mapping]], folder, *, per_folder: int = 100) -> list:
    """Write dialogs in CSQA's layout ``folder/QA_<k>/QA_<i>.json``; returns the paths.

    Parameters
    ----------
    dialogs : sequence of sequence of dict
        The dialogs, each a list of turns alternating user and system.
    folder : str or path-like
        The root folder.
    per_folder : int, default=100
        Dialogs per ``QA_<k>`` subfolder.

    Returns
    -------
    list of pathlib.Path
        The written files, in the order of ``dialogs``.
    """
    folder = Path(folder)
    paths = []
    for i, dialog in enumerate(dialogs):
        path = folder / f"QA_{i // per_folder}" / f"QA_{i}.json"
        write_dialog(dialog, path)
        paths.append(path)
    return paths


def answer_score(predicted, gold) -> float:
    """One turn's score: F1 for entity answers, exact match for counts and
    booleans, including two-part ones (a prediction of the wrong shape, or
    None, scores 0).

    Two empty entity sets score 1. This per-turn mean is *not* what published
    CSQA systems report; see :func:`csqa_scores` for those metrics.

    Parameters
    ----------
    predicted : list of str, int, bool, list or None
        The predicted answer.
    gold : list of str, int, bool or list
        The gold answer, as :func:`answer_from_turns` reads it.

    Returns
    -------
    float
        The score, in [0, 1].

    Raises
    ------
    ValueError
        If ``gold`` is None (an answer the reader could not read).

    Examples
    --------
    >>> from sktheory.logical_form import answer_score
    >>> answer_score(["Q1", "Q2"], ["Q2", "Q3"]), answer_score(3, 3), answer_score(True, 1)
    (0.5, 1.0, 0.0)
    >>> answer_score([1, 2], [1, 2]), answer_score([True, True], [True, False])
    (1.0, 0.0)
    """
    if gold is None:
        raise ValueError("the gold answer is None (unread); leave such turns out of scores")
    if isinstance(gold, bool):
        return float(isinstance(predicted, bool) and predicted == gold)
    if isinstance(gold, int):
        ok = isinstance(predicted, int) and not isinstance(predicted, bool)
        return float(ok and predicted == gold)
    if isinstance(gold, (list, tuple)) and _is_multi(gold):
        return float(_exact(predicted, gold))
    if predicted is None or isinstance(predicted, (bool, int, str)):
        return 0.0
    p, g = set(predicted), set(gold)
    if not p and not g:
        return 1.0
    hit = len(p & g)
    if hit == 0:
        return 0.0
    precision, recall = hit / len(p), hit / len(g)
    return 2 * precision * recall / (precision + recall)


def _exact(predicted, gold) -> bool:
    """Exact match keeping bool and int apart (True is not 1)."""
    if isinstance(gold, (list, tuple)):
        if not isinstance(predicted, (list, tuple)) or len(predicted) != len(gold):
            return False
        return all(_exact(p, g) for p, g in zip(predicted, gold, strict=True))
    return type(predicted) is type(gold) and predicted == gold


#: Question types scored by accuracy in CSQA papers (the rest by P/R/F1).
ACCURACY_TYPES = (
    "Verification (Boolean) (All)",
    "Quantitative Reasoning (Count) (All)",
    "Comparative Reasoning (Count) (All)",
)


def csqa_scores(
    predicted: Sequence, gold: Sequence, question_types: Sequence[str], *, macro: bool = False
) -> dict[str, dict[str, float]]:
    """CSQA's published metrics, per question type.

    For entity answers (every type except :data:`ACCURACY_TYPES`), the
    *micro* scores LASAGNE and CARTON report: over all turns of a type,
    ``precision = TP / (TP + FP)``, ``recall = TP / (TP + FN)`` and ``f1``
    their harmonic mean, with TP, FP and FN the numbers of correct, spurious
    and missed entities summed over the turns (a turn with empty prediction
    and empty gold adds nothing; a prediction that is not a list of ids has
    no entities). With ``macro=True``, D2A's macro scores instead: the mean
    over turns of each turn's precision and recall (a turn with an empty
    prediction has precision 0, one with an empty gold recall 1), and ``f1``
    their harmonic mean.

    For Verification, Quantitative Count and Comparative Count, ``accuracy``:
    the fraction of turns answered exactly (a two-part answer only when both
    parts are right; ``True`` is not ``1``).

    A clarification turn is scored under ``"Clarification"`` by its answer's
    shape (entities: P/R/F1; counts, booleans: accuracy, which is then also
    given). Turns whose gold answer is ``None`` are left out and counted in
    ``"unscored"``.

    Parameters
    ----------
    predicted, gold : sequence
        Answers, as :func:`read_csqa` gives them.
    question_types : sequence of str
        Each turn's ``"question-type"``.
    macro : bool, default=False
        Report D2A's macro precision, recall and F1 instead of the micro ones.

    Returns
    -------
    dict
        Question type -> ``{"turns": n, "precision", "recall", "f1"}`` and/or
        ``{"accuracy"}``, plus ``"unscored"`` (a count) per type.

    Examples
    --------
    >>> from sktheory.logical_form import csqa_scores
    >>> s = csqa_scores([["a"], ["a", "b", "c"], 3], [["a", "b"], ["c"], 2],
    ...                 ["Simple Question (Direct)"] * 2 + ["Quantitative Reasoning (Count) (All)"])
    >>> s["Simple Question (Direct)"]["precision"], s["Simple Question (Direct)"]["recall"]
    (0.5, 0.6666666666666666)
    >>> s["Quantitative Reasoning (Count) (All)"]["accuracy"]
    0.0
    """
    if not (len(predicted) == len(gold) == len(question_types)):
        raise ValueError(
            f"predicted, gold and question_types must have the same length, got "
            f"{len(predicted)}, {len(gold)}, {len(question_types)}"
        )
    acc: dict[str, dict] = {}
    for p, g, qt in zip(predicted, gold, question_types, strict=True):
        row = acc.setdefault(
            qt, {"turns": 0, "unscored": 0, "tp": 0, "fp": 0, "fn": 0, "p": [], "r": [], "ok": []}
        )
        if g is None:
            row["unscored"] += 1
            continue
        row["turns"] += 1
        if isinstance(g, (bool, int)) or _is_multi(g) or qt in ACCURACY_TYPES:
            row["ok"].append(_exact(p, g))
            continue
        gs = set(g)
        ps = set(p) if isinstance(p, (list, tuple, set, frozenset)) and not _is_multi(p) else set()
        hit = len(ps & gs)
        row["tp"] += hit
        row["fp"] += len(ps) - hit
        row["fn"] += len(gs) - hit
        row["p"].append(hit / len(ps) if ps else 0.0)
        row["r"].append(hit / len(gs) if gs else 1.0)
    out: dict[str, dict[str, float]] = {}
    for qt, row in acc.items():
        res: dict[str, float] = {"turns": row["turns"], "unscored": row["unscored"]}
        if row["ok"]:
            res["accuracy"] = sum(row["ok"]) / len(row["ok"])
        if row["p"]:
            if macro:
                prec, rec = sum(row["p"]) / len(row["p"]), sum(row["r"]) / len(row["r"])
            else:
                tp, fp, fn = row["tp"], row["fp"], row["fn"]
                prec = tp / (tp + fp) if tp + fp else 0.0
                rec = tp / (tp + fn) if tp + fn else 1.0
            res["precision"], res["recall"] = prec, rec
            res["f1"] = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        out[qt] = res
    return out
