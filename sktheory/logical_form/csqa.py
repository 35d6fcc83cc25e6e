"""Readers and writers for CSQA's dialog JSON, self-contained turns, and metrics.

A CSQA dialog file is a JSON list of alternating user and system turns::

    [{"speaker": "USER", "question-type": "Simple Question (Direct)",
      "entities_in_utterance": ["Q961955"], "relations": ["P17"],
      "type_list": ["Q15617994"], "utterance": "..."},
     {"speaker": "SYSTEM", "all_entities": ["Q142"], "utterance": "France"},
     ...]

:func:`dialog_to_turns` turns a dialog into self-contained *turns*: the user
turn's CSQA fields plus ``"previous": {"user": ..., "system": ...}`` holding
the previous user and system turns (without their own ``"previous"``), so that
rows can be shuffled. Each turn's *answer* is a list of entity ids, an ``int``
(count questions) or a ``bool`` (verification questions).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

__all__ = [
    "COUNT_TYPES",
    "QUESTION_TYPES",
    "answer_from_turns",
    "answer_score",
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


_NUMBER = re.compile(r"-?\d+")


def answer_from_turns(user: Mapping, system: Mapping):
    """The answer of one (user, system) pair: an int for count question types
    (the first integer of the system utterance), a bool for verification (the
    utterance starts with "yes"), otherwise the system's ``all_entities``.

    Raises
    ------
    ValueError
        If a count answer has no integer, or ``all_entities`` is malformed.
    """
    qt = user.get("question-type", "")
    text = system.get("utterance", "") or ""
    if qt in COUNT_TYPES:
        match = _NUMBER.search(text)
        if match is None:
            raise ValueError(f"count answer without a number: {text!r}")
        return int(match.group())
    if qt == VERIFICATION_TYPE:
        return text.strip().lower().startswith("yes")
    entities = system.get("all_entities", [])
    _check_ids(entities, "system 'all_entities'")
    return list(entities)


def read_dialog(source) -> list[dict]:
    """Read one CSQA dialog: a path to a JSON file, or an already loaded list.

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

    A pair whose system reply is a clarification question (the next user turn
    is of type ``"Clarification"``) has no answer and yields no turn; it is the
    ``previous`` of the clarification turn.

    Raises
    ------
    TypeError
        If ``dialog`` is not a list of turn dicts (a file path goes to
        :func:`read_dialog` or :func:`read_csqa` instead).
    ValueError
        If the turns are malformed (see :func:`read_dialog`).
    """
    if isinstance(dialog, (str, bytes, os.PathLike, Mapping)) or not isinstance(dialog, Iterable):
        raise TypeError(
            "dialog_to_turns expects one CSQA dialog as a list of turn dicts, got "
            f"{type(dialog).__name__}; read a file with read_dialog(path) or read_csqa(path)."
        )
    dialog = read_dialog(list(dialog))
    pairs = [(dialog[i], dialog[i + 1]) for i in range(0, len(dialog), 2)]
    turns, answers = [], []
    for k, (user, system) in enumerate(pairs):
        nxt = pairs[k + 1][0] if k + 1 < len(pairs) else None
        if nxt is not None and nxt.get("question-type") == "Clarification":
            continue
        turn = _strip(user)
        if k > 0:
            turn["previous"] = {
                "user": _strip(pairs[k - 1][0]),
                "system": _strip(pairs[k - 1][1]),
            }
        else:
            turn["previous"] = None
        turns.append(turn)
        answers.append(answer_from_turns(user, system))
    return turns, answers


def read_csqa(path) -> tuple[list[dict], list]:
    """Read a CSQA dialog file, or every ``*.json`` under a folder (sorted).

    Returns
    -------
    turns : list of dict
        Self-contained turns (see the module docstring).
    answers : list
        Their answers.
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
    for file in files:
        t, a = dialog_to_turns(read_dialog(file))
        turns += t
        answers += a
    return turns, answers


def _natural_key(p: Path):
    return [int(s) if s.isdigit() else s for s in re.split(r"(\d+)", str(p))]


def write_dialog(dialog: Sequence[Mapping], path) -> None:
    """Write one dialog as a CSQA JSON file (validated first)."""
    dialog = read_dialog(list(dialog))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dialog, ensure_ascii=False, indent=1), "utf-8")


def write_csqa(dialogs: Sequence[Sequence[Mapping]], folder, *, per_folder: int = 100) -> list:
    """Write dialogs in CSQA's layout ``folder/QA_<k>/QA_<i>.json``; returns the paths."""
    folder = Path(folder)
    paths = []
    for i, dialog in enumerate(dialogs):
        path = folder / f"QA_{i // per_folder}" / f"QA_{i}.json"
        write_dialog(dialog, path)
        paths.append(path)
    return paths


def answer_score(predicted, gold) -> float:
    """CSQA's per-turn metric: F1 for entity answers, exact match for counts
    and booleans (a prediction of the wrong shape, or None, scores 0).

    Examples
    --------
    >>> from sktheory.logical_form import answer_score
    >>> answer_score(["Q1", "Q2"], ["Q2", "Q3"]), answer_score(3, 3), answer_score(True, 1)
    (0.5, 1.0, 0.0)
    """
    if isinstance(gold, bool):
        return float(isinstance(predicted, bool) and predicted == gold)
    if isinstance(gold, int):
        ok = isinstance(predicted, int) and not isinstance(predicted, bool)
        return float(ok and predicted == gold)
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
