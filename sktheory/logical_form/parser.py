"""A Transformer semantic parser over structured conversational context,
trained from answers alone (``PAPERS.md``, section 7).

:class:`LogicalFormParser` fits on self-contained CSQA turns with either their
gold answers (weak supervision: :func:`search` finds silver logical forms,
turns without one are skipped) or their logical forms, and predicts logical
forms for new turns by grammar-constrained decoding, so every prediction
parses and type-checks. Symbols are chosen by pointing at the turn's candidate
entities, relations, types, numbers and references, so graphs and entities
never seen in training work.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
import torch
from numpy.typing import ArrayLike
from sklearn.base import _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_sample_weight, check_is_fitted

from sktheory.base import TorchEstimator, TrainState, Window

from . import _model as M
from .csqa import QUESTION_TYPES, answer_score, validate_turn
from .csqa import csqa_scores as _csqa_scores
from .executor import Executor
from .grammar import Entity, LogicalFormError, Number, Op, Reference, check, linearize, parse
from .kg import KnowledgeGraph
from .supervision import CANDIDATE_MODES, Searcher, SymbolRanker

__all__ = ["LogicalFormParser"]

_FORM_TYPES = (Op, Entity, Number, Reference)


@dataclass
class _Data:
    """What a fit trains on: (features, target, teacher inputs) per usable turn."""

    examples: list
    weights: list[float]
    batch_size: int
    start: float  # time.perf_counter() at the start of the fit


@dataclass
class _State(TrainState):
    """The network and its optimiser; the minibatch order comes from ``generator``."""

    module: torch.nn.Module | None = None
    optimizer: torch.optim.Optimizer | None = None


class LogicalFormParser(TorchEstimator):
    """Transformer encoder-decoder from conversational turns to logical forms.

    The encoder reads each turn as a flat list of tokens (utterance, previous
    utterance and answer, and the candidate entities, relations, types,
    numbers and references of :func:`candidate_symbols` with their labels),
    each token embedded as word + field + object index + position. The decoder
    emits the prefix form of a logical form: operators from a fixed vocabulary,
    symbols by pointing at candidate heads, masked at every step to the
    type-correct continuations (:class:`PrefixState`) that can still be
    completed within ``max_length`` tokens.

    Parameters
    ----------
    kg : KnowledgeGraph or None, default=None
        The graph. Needed to fit from answers (the search) and to execute
        predictions; its labels feed the encoder. Without it labels are the
        identifiers themselves.
    d_model : int, default=64
        Width of the Transformer.
    n_layers : int, default=2
        Encoder and decoder layers (each).
    n_heads : int, default=4
        Attention heads; must divide ``d_model``.
    max_epochs : int, default=60
        Passes over the training forms (epochs; each is one window of the
        training contract, see :mod:`sktheory._training`). The whole budget
        always runs: there is no ``tol``.
    learning_rate : float, default=2e-3
        Peak Adam step size: it rises linearly over the first epoch, then
        decays as one over the square root of the epoch number (a schedule
        that does not depend on ``max_epochs``, so ``warm_start`` continues it).
        Gradients are clipped to norm 1.
    batch_size : int, default=32
        Turns per minibatch (one update each).
    beam_size : int, default=1
        1 decodes greedily; larger values run a beam search.
    dropout : float, default=0.1
        Rate at which whole token embeddings are dropped during training
        (drawn from the estimator's own generator).
    context : {"structured", "utterance"}, default="structured"
        ``"utterance"`` is a baseline encoder without structured context:
        the utterance and bare candidate slots only (no labels, no previous
        turn).
    candidates : {"graph", "gold"}, default="graph"
        Where the relation and type candidates come from, at fit and at
        prediction (:func:`candidate_symbols`). ``"graph"`` never reads a
        turn's ``relations`` or ``type_list``: relations and types around the
        linked entities (the turn's ``entities_in_utterance``, the previous
        turn's entities and answer), those whose labels the utterance names,
        and ``symbol_ranker_``'s learned choice over the whole vocabulary.
        ``"gold"`` is an oracle: it reads those CSQA gold annotations, which
        a deployed system does not have and published CSQA systems are
        evaluated without.
    max_length : int, default=24
        Most tokens in a decoded form.
    max_tokens : int, default=160
        Most encoder tokens per turn (candidate heads are always kept).
    min_word_count : int, default=1
        Words seen fewer times at fit are read as unknown.
    search_max_nodes : int, default=20_000
        Sets the weak-supervision search may build per training turn: the
        deterministic budget, so that the same turns give the same training
        forms whatever the machine's load.
    search_time_budget : float, default=30.0
        Seconds of search per training turn: an outer safety net only.
    warm_start : bool, default=False
        When True and the estimator is fitted, ``fit`` continues training the
        same network, optimiser, schedule and random stream for ``max_epochs``
        more epochs (the search runs again on the given turns; the vocabulary
        stays). ``fit`` for ``a`` epochs then, warm, for ``b`` epochs equals
        one fit for ``a + b`` epochs on the same data.
    random_state : int, RandomState instance or None, default=None
        Seeds the fit's own generator (initialisation, minibatch order and
        dropout); torch's process-wide generator is neither used nor changed.
    device : {"cpu", "cuda", "auto"}, default="cpu"
        Where the network lives and trains; ``"auto"`` picks CUDA when
        available, and ``"cuda"`` without a usable GPU raises.
    dtype : {"float32", "float64"}, default="float32"
        float32 by default: outputs are discrete forms and the attention
        layers run about twice as fast.
    verbose : int, default=0
        Progress bar over epochs when truthy.
    on_divergence : {"raise", "warn"}, default="raise"
        What a diverged fit does (a non-finite epoch loss, or one above 1e4
        times the loss at initialisation; see :mod:`sktheory._training`):
        raise :class:`~sktheory.base.DivergenceError`, or warn
        :class:`~sktheory.base.DivergenceWarning`, stop, and set ``diverged_``
        (the model then refuses to predict).

    Attributes
    ----------
    vocabulary_ : list of str
        Encoder words (indices of the word embedding).
    module_ : torch.nn.Module
        The fitted network (named ``model_`` before this release).
    supervision_ : {"answers", "forms"}
        What ``y`` held.
    symbol_ranker_ : SymbolRanker or None
        With ``candidates="graph"``: the learned relation/type choice, fitted
        on the training utterances and the symbols of their forms (kept by a
        warm start, as the vocabulary).
    coverage_ : float
        Share of training turns with a usable form (a silver form from the
        search, or a given form whose symbols are all candidates).
    coverage_by_type_ : dict
        The same per question type.
    n_skipped_ : int
        Training turns without a usable form.
    train_forms_ : list of str or None
        The form trained on, per training turn of nonzero weight (None where
        skipped).
    search_seconds_ : float
        Time spent searching silver forms.
    fit_seconds_ : float
        Time of the whole fit (search included).
    history_ : list of dict
        One record per epoch: ``"iter"`` (updates done so far), ``"epoch"``
        and ``"loss"`` (the weighted mean token cross-entropy of the epoch's
        minibatches, each before its update, with dropout).
    n_iter_ : int
        Parameter updates (minibatches) done, cumulative over warm starts.
    diverged_ : bool
        Whether the last fit diverged (possible with ``on_divergence="warn"``).

    See Also
    --------
    sktheory.logical_form.search : The weak-supervision search.
    sktheory.logical_form.PrefixState : The grammar state used to decode.

    Examples
    --------
    >>> from sktheory.logical_form import LogicalFormParser, make_dataset
    >>> kg, turns, answers, _ = make_dataset(3, n_entities=150, random_state=0)
    >>> parser = LogicalFormParser(kg=kg, d_model=32, max_epochs=2, random_state=0)
    >>> parser = parser.fit(turns, answers)
    >>> forms = parser.predict(turns[:2])
    >>> len(forms), all(isinstance(f, str) for f in forms)
    (2, True)
    """

    _parameter_constraints = {
        **TorchEstimator._parameter_constraints,
        "kg": [KnowledgeGraph, None],
        "d_model": [Interval(Integral, 4, None, closed="left")],
        "n_layers": [Interval(Integral, 1, None, closed="left")],
        "n_heads": [Interval(Integral, 1, None, closed="left")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "beam_size": [Interval(Integral, 1, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "context": [StrOptions({"structured", "utterance"})],
        "candidates": [StrOptions(set(CANDIDATE_MODES))],
        "max_length": [Interval(Integral, 1, None, closed="left")],
        "max_tokens": [Interval(Integral, 32, None, closed="left")],
        "min_word_count": [Interval(Integral, 1, None, closed="left")],
        "search_max_nodes": [Interval(Integral, 1, None, closed="left")],
        "search_time_budget": [Interval(Real, 0, None, closed="neither")],
        "warm_start": ["boolean"],
    }
    _budget = "max_epochs"
    _divergence_hint = (
        "Lower learning_rate (the default 2e-3 suits Adam on this network), or raise batch_size."
    )
    _no_progress_hint = (
        "Raise max_epochs or learning_rate, and check coverage_: few usable "
        "training forms leave little to learn."
    )

    def __init__(
        self,
        kg: KnowledgeGraph | None = None,
        d_model: int = 64,
        n_layers: int = 2,
        n_heads: int = 4,
        max_epochs: int = 60,
        learning_rate: float = 2e-3,
        batch_size: int = 32,
        beam_size: int = 1,
        dropout: float = 0.1,
        context: str = "structured",
        candidates: str = "graph",
        max_length: int = 24,
        max_tokens: int = 160,
        min_word_count: int = 1,
        search_max_nodes: int = 20_000,
        search_time_budget: float = 30.0,
        warm_start: bool = False,
        random_state=None,
        device: str = "cpu",
        dtype: str = "float32",
        verbose: int = 0,
        on_divergence: str = "raise",
    ):
        self.kg = kg
        self.d_model = d_model
        self.n_layers = n_layers
        self.n_heads = n_heads
        self.max_epochs = max_epochs
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.beam_size = beam_size
        self.dropout = dropout
        self.context = context
        self.candidates = candidates
        self.max_length = max_length
        self.max_tokens = max_tokens
        self.min_word_count = min_word_count
        self.search_max_nodes = search_max_nodes
        self.search_time_budget = search_time_budget
        self.warm_start = warm_start
        self.random_state = random_state
        self.device = device
        self.dtype = dtype
        self.verbose = verbose
        self.on_divergence = on_divergence

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # Rows are turn dicts, targets answers or logical forms: no numeric
        # array. sklearn's common checks that need 2-D numeric X skip it.
        tags.input_tags.two_d_array = False
        tags.input_tags.dict = True
        tags.input_tags.string = True
        tags.target_tags.required = True
        tags.non_deterministic = False
        return tags

    def __sklearn_is_fitted__(self) -> bool:
        # A fit that raised part-way leaves other attributes, never module_.
        return hasattr(self, "module_")

    # ------------------------------------------------------------------ input
    def _check_turns(self, X) -> list:
        if isinstance(X, (str, bytes, Mapping)) or not isinstance(X, (Sequence, np.ndarray)):
            raise ValueError(
                f"X must be a sequence of turn dicts, got {type(X).__name__}; wrap a "
                "single turn in a list."
            )
        X = list(X)
        if not X:
            raise ValueError("X is empty: at least one turn is required.")
        for i, turn in enumerate(X):
            validate_turn(turn, where=f"X[{i}]")
        return X

    def _check_y(self, X, y) -> tuple[list, str]:
        if isinstance(y, (str, bytes, Mapping)) or not isinstance(y, (Sequence, np.ndarray)):
            raise ValueError(f"y must be a sequence of answers or forms, got {type(y).__name__}")
        y = list(y)
        if len(y) != len(X):
            raise ValueError(f"X has {len(X)} turns but y has {len(y)} entries.")
        is_form = [isinstance(v, (str, *_FORM_TYPES)) for v in y]
        if all(is_form):
            forms = []
            for i, v in enumerate(y):
                try:
                    forms.append(parse(v) if isinstance(v, str) else check(v))
                except LogicalFormError as exc:
                    raise ValueError(f"y[{i}] is not a valid logical form: {exc}") from None
            return forms, "forms"
        if any(is_form):
            raise ValueError("y mixes logical forms and answers; give one or the other.")
        for i, v in enumerate(y):
            if isinstance(v, (bool, np.bool_)):
                continue
            if isinstance(v, (Integral,)):
                if v < 0:
                    raise ValueError(f"y[{i}]: a count answer must be >= 0, got {v}")
                continue
            if isinstance(v, (list, tuple, set, frozenset, np.ndarray)) and all(
                isinstance(e, str) for e in v
            ):
                continue
            # A two-part count/boolean answer (pair_num / pair_bool forms give it).
            if isinstance(v, (list, tuple)) and v and all(isinstance(e, Integral) for e in v):
                continue
            if v is None:
                raise ValueError(
                    f"y[{i}] is None (a reply read_csqa could not read); leave such turns out."
                )
            raise ValueError(
                f"y[{i}] must be an answer (list of entity ids, int or bool) or a "
                f"logical-form string, got {v!r}"
            )
        return [_plain_answer(v) for v in y], "answers"

    def _kg_for(self, kg) -> KnowledgeGraph:
        kg = self.kg if kg is None else kg
        if not isinstance(kg, KnowledgeGraph):
            raise ValueError(
                "a KnowledgeGraph is needed to execute logical forms: set kg= on "
                f"{type(self).__name__} or pass kg= to this method."
            )
        return kg

    # -------------------------------------------------------------------- fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(
        self, X: Sequence[Mapping], y: Sequence, sample_weight: ArrayLike | None = None
    ) -> LogicalFormParser:
        """Fit on turns and their answers (weak supervision) or logical forms.

        Parameters
        ----------
        X : sequence of dict
            Self-contained turns (CSQA user turn plus ``"previous"``).
        y : sequence
            Gold answers (lists of entity ids, ints, bools): silver forms are
            searched on ``kg``. Or logical forms (strings or trees).
        sample_weight : array-like of shape (n_turns,), default=None
            Non-negative weight per turn. Each decoder token's cross-entropy
            is weighted by its turn's weight and the loss of a minibatch is
            the weighted mean over its tokens, so all-ones weights give the
            unweighted loss. Turns of weight zero are left out entirely
            (search, vocabulary and coverage statistics included), exactly as
            if they had been dropped from ``X``.

        Returns
        -------
        self : LogicalFormParser
            The fitted estimator.
        """
        return self._fit(X, y, sample_weight=sample_weight)

    # Training hooks of the contract (see sktheory/_training.py).
    def _check_fit_data(self, X, y, reset: bool, sample_weight=None) -> _Data:
        start = time.perf_counter()
        X = self._check_turns(X)
        targets, supervision = self._check_y(X, y)
        sw = _check_sample_weight(
            sample_weight, np.empty((len(X), 0)), dtype=np.float64, ensure_non_negative=True
        )
        if np.any(sw == 0):
            keep = np.flatnonzero(sw > 0)
            X, targets, sw = [X[i] for i in keep], [targets[i] for i in keep], sw[keep]
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model={self.d_model} must be divisible by n_heads={self.n_heads}.")
        kg = self.kg
        if supervision == "answers":
            if kg is None:
                raise ValueError(
                    "fitting from answers needs the knowledge graph: set kg= (or give "
                    "logical forms as y)."
                )
            forms = self._search(X, targets, kg, reset, sw)
        else:
            forms = targets
            if reset:
                self.symbol_ranker_ = self._fit_ranker(X, forms, sw)
        self.supervision_ = supervision
        self.search_seconds_ = time.perf_counter() - start

        if reset:  # a warm start keeps the vocabulary the network was built for
            self.vocabulary_ = M.Vocabulary(
                M.count_words(X, kg, self.context, self.candidates, self.symbol_ranker_),
                self.min_word_count,
            ).words
        vocab = self._vocab()
        examples, weights, used = [], [], []
        for turn, lf, w in zip(X, forms, sw, strict=True):
            ex = None
            if lf is not None:
                feats = self._featurize(turn, kg, vocab)
                target = M.encode_target(linearize(lf), feats)
                if target is not None and len(target) <= self.max_length:
                    teach = M.teacher_inputs(target, feats, self.max_length)
                    if teach is not None:
                        ex = (feats, target, teach)
            if ex is not None:
                examples.append(ex)
                weights.append(float(w))
            used.append(str(lf) if ex is not None else None)
        self.train_forms_ = used
        self.n_skipped_ = sum(u is None for u in used)
        self.coverage_ = 1.0 - self.n_skipped_ / len(X)
        self.coverage_by_type_ = _by_type(X, [float(u is not None) for u in used])
        if not examples:
            raise ValueError(
                "no training turn has a usable logical form (the search found none, or "
                "the given forms use symbols that are not among the turns' candidates)."
            )
        return _Data(examples, weights, min(self.batch_size, len(examples)), start)

    def _fit_ranker(self, X, forms, sw) -> SymbolRanker | None:
        if self.candidates != "graph":
            return None
        return SymbolRanker.fit(X, forms, sample_weight=sw)

    def _search(self, X, targets, kg, reset: bool, sw) -> list:
        """Silver forms. With graph candidates a first pass searches the
        linked entities' neighbourhoods and the labels; the ranker learned
        from its forms then proposes relations and types for a second pass
        over the turns still without a form."""
        params = dict(
            time_budget=self.search_time_budget, max_nodes=self.search_max_nodes, max_results=1
        )
        ranker = None if reset else getattr(self, "symbol_ranker_", None)
        searcher = Searcher(kg, candidates=self.candidates, ranker=ranker, **params)
        forms = [searcher.search(t, a).best for t, a in zip(X, targets, strict=True)]
        if self.candidates == "graph":
            if reset:
                ranker = self._fit_ranker(X, forms, sw)
                searcher = Searcher(kg, candidates="graph", ranker=ranker, **params)
                forms = [
                    searcher.search(t, a).best if lf is None else lf
                    for t, a, lf in zip(X, targets, forms, strict=True)
                ]
            self.symbol_ranker_ = ranker
        else:
            self.symbol_ranker_ = None
        return forms

    def _featurize(self, turn, kg, vocab) -> M.Features:
        return M.featurize(
            turn,
            kg,
            vocab,
            self.context,
            self.max_tokens,
            self.candidates,
            getattr(self, "symbol_ranker_", None),
        )

    def _init_state(self, data: _Data, generator: torch.Generator) -> _State:
        # Building the layers draws their default initialisation from torch's
        # process-wide generator; fork it so a fit neither uses nor changes it,
        # then initialise every parameter from the fit's own generator.
        with torch.random.fork_rng(devices=[]):
            module = M.Seq2Seq(
                len(self.vocabulary_),
                self.d_model,
                self.n_layers,
                self.n_heads,
                self.max_tokens,
                self.max_length,
            ).to(dtype=self._torch_dtype)
        module.reset(generator)
        module.to(self.device_)
        optimizer = torch.optim.Adam(module.parameters(), lr=self.learning_rate)
        return _State(generator=generator, module=module, optimizer=optimizer)

    def _initial_loss(self, state: _State, data: _Data) -> float:
        # Loss of the whole training set before any update, without dropout.
        total = weight = 0.0
        with torch.no_grad():
            for b in range(0, len(data.examples), data.batch_size):
                batch = data.examples[b : b + data.batch_size]
                w = data.weights[b : b + data.batch_size]
                loss, mass = self._batch_loss(state.module, batch, w, None)
                total += float(loss) * mass
                weight += mass
        return total / weight

    def _run_window(self, state: _State, data: _Data, n_updates: int | None) -> Window:
        # One epoch: shuffled minibatches from the fit's generator.
        module, opt = state.module, state.optimizer
        n, bs = len(data.examples), data.batch_size
        n_batches = -(-n // bs)
        module.train()
        order = torch.randperm(n, generator=state.generator).tolist()
        total = weight = 0.0
        done = 0
        for b in range(n_batches):
            rows = order[b * bs : (b + 1) * bs]
            batch = [data.examples[i] for i in rows]
            loss, mass = self._batch_loss(
                module, batch, [data.weights[i] for i in rows], state.generator
            )
            value = float(loss.detach())
            if not math.isfinite(value):
                module.eval()
                return Window(value, done)
            factor = _lr_factor(state.n_iter + done, n_batches)
            for group in opt.param_groups:
                group["lr"] = self.learning_rate * factor
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
            opt.step()
            total += value * mass
            weight += mass
            done += 1
        module.eval()
        return Window(total / weight, done)

    def _finalize(self, state: _State, data: _Data) -> None:
        state.module.eval()
        self.module_ = state.module
        self.fit_seconds_ = time.perf_counter() - data.start

    def _vocab(self) -> M.Vocabulary:
        vocab = M.Vocabulary.__new__(M.Vocabulary)
        vocab.words = list(self.vocabulary_)
        vocab.index = {w: i for i, w in enumerate(vocab.words)}
        return vocab

    def _encoder_batch(self, feats_list):
        b = len(feats_list)
        n = max(len(f.word) for f in feats_list)
        c = max(1, max(len(f.candidates) for f in feats_list))
        word = torch.zeros(b, n, dtype=torch.long)
        field = torch.zeros(b, n, dtype=torch.long)
        obj = torch.zeros(b, n, dtype=torch.long)
        pad = torch.ones(b, n, dtype=torch.bool)
        cand_pos = torch.zeros(b, c, dtype=torch.long)
        cand_pad = torch.ones(b, c, dtype=torch.bool)
        for i, f in enumerate(feats_list):
            k = len(f.word)
            word[i, :k] = torch.tensor(f.word)
            field[i, :k] = torch.tensor(f.field)
            obj[i, :k] = torch.tensor(f.obj)
            pad[i, :k] = False
            m = len(f.cand_pos)
            if m:
                cand_pos[i, :m] = torch.tensor(f.cand_pos)
                cand_pad[i, :m] = False
        dev = self.device_
        return [t.to(dev) for t in (word, field, obj, pad, cand_pos, cand_pad)]

    def _batch_loss(self, model, batch, weights, gen) -> tuple[torch.Tensor, float]:
        """Weighted mean token cross-entropy of a minibatch, and its total weight.

        Each target token counts with its turn's weight. ``gen`` draws the
        embedding dropout; None (the loss at initialisation) drops nothing.
        """
        feats_list = [f for f, _, _ in batch]
        word, field, obj, pad, cand_pos, cand_pad = self._encoder_batch(feats_list)
        b, t = len(batch), max(len(tg) for _, tg, _ in batch)
        c = cand_pos.shape[1]
        n_out = len(M.OPS) + c
        classes = torch.zeros(b, t, dtype=torch.long)
        pointers = torch.full((b, t), -1, dtype=torch.long)
        kinds = torch.zeros(b, t, dtype=torch.long)
        masks = torch.zeros(b, t, n_out, dtype=torch.bool)
        gold = torch.full((b, t), -100, dtype=torch.long)
        for i, (_, target, (cls, ptr, knd, msk)) in enumerate(batch):
            k = len(target)
            classes[i, :k] = torch.tensor(cls)
            pointers[i, :k] = torch.tensor(ptr)
            kinds[i, :k] = torch.tensor(knd)
            m = torch.tensor(msk)
            masks[i, :k, : m.shape[1]] = m
            gold[i, :k] = torch.tensor(target)
        masks[gold < 0] = True  # padded steps: any mask, ignored by the loss
        dev, dt = self.device_, self._torch_dtype
        enc_drop = dec_drop = None
        if self.dropout > 0 and gen is not None:
            keep = 1.0 - self.dropout
            enc_drop = (torch.rand(word.shape, generator=gen) < keep).to(dt)[..., None] / keep
            dec_drop = (torch.rand(classes.shape, generator=gen) < keep).to(dt)[..., None] / keep
            enc_drop, dec_drop = enc_drop.to(dev), dec_drop.to(dev)
        memory = model.encode(word, field, obj, pad, enc_drop)
        scores = model.decode(
            memory,
            pad,
            cand_pos,
            cand_pad,
            classes.to(dev),
            pointers.to(dev),
            kinds.to(dev),
            dec_drop,
        )
        scores = scores.masked_fill(~masks.to(dev), -1e9)
        token_loss = torch.nn.functional.cross_entropy(
            scores.reshape(-1, n_out), gold.to(dev).reshape(-1), ignore_index=-100, reduction="none"
        ).reshape(b, t)
        w = torch.tensor(weights, dtype=dt, device=dev)[:, None] * (gold >= 0).to(dev, dt)
        mass = w.sum()
        return (token_loss * w).sum() / mass, float(mass)

    # ---------------------------------------------------------------- predict
    def predict(self, X: Sequence[Mapping], kg: KnowledgeGraph | None = None) -> np.ndarray:
        """Logical forms of the turns, as strings.

        Every prediction parses and type-checks. A turn whose candidate
        symbols admit no form at all (no entity, reference or type to start
        from) gets None.

        Parameters
        ----------
        X : sequence of dict
            Self-contained turns (CSQA user turn plus ``"previous"``).
        kg : KnowledgeGraph, optional
            Graph for the symbols' labels (default: the estimator's ``kg``);
            pass a new graph to parse turns about it.

        Returns
        -------
        ndarray of object, shape (n_turns,)
            Each turn's form as a string, or None.

        Raises
        ------
        ValueError
            If the fit diverged (``diverged_`` is True).
        """
        check_is_fitted(self)
        self._check_not_diverged()
        X = self._check_turns(X)
        kg = self.kg if kg is None else kg
        vocab = self._vocab()
        feats = [self._featurize(t, kg, vocab) for t in X]
        out = np.empty(len(X), dtype=object)
        step = 64
        # Turns of similar length share a batch, so little of it is padding.
        order = sorted(range(len(X)), key=lambda i: (len(feats[i].word), i))
        # One torch thread, as in fit: decoding is many tiny steps.
        with self._torch_context(), torch.no_grad():
            for s in range(0, len(X), step):
                rows = order[s : s + step]
                chunk = [feats[i] for i in rows]
                if self.beam_size > 1:
                    forms = [self._beam(f) for f in chunk]
                else:
                    forms = self._greedy(chunk)
                for i, lf in zip(rows, forms, strict=True):
                    out[i] = None if lf is None else str(lf)
        return out

    def _greedy(self, feats_list) -> list:
        """Batched greedy decoding with cached decoder states: one new position
        per step (see :meth:`Seq2Seq.decode_step`); rows leave the batch when
        their form is complete. Gives the forms of :meth:`_greedy_full`."""
        model = self.module_
        word, field, obj, pad, cand_pos, cand_pad = self._encoder_batch(feats_list)
        memory = model.encode(word, field, obj, pad)
        cache = model.start_decoding(memory, pad, cand_pos, cand_pad)
        states = [M.DecodeState(f.min_len, self.max_length) for f in feats_list]
        first = [s.allowed(f.candidates) for s, f in zip(states, feats_list, strict=True)]
        rows = [i for i, m in enumerate(first) if any(m)]
        if len(rows) < len(states):
            model.keep_rows(cache, torch.tensor(rows, dtype=torch.long))
        n_ops, n_out = len(M.OPS), len(M.OPS) + cand_pos.shape[1]
        dev = self.device_
        cls = [0] * len(rows)
        ptr = [-1] * len(rows)
        knd = [states[i].kind_index for i in rows]
        masks = [first[i] for i in rows]
        for t in range(self.max_length):
            if not rows:
                break
            scores = (
                model.decode_step(
                    cache,
                    torch.tensor(cls, device=dev),
                    torch.tensor(ptr, device=dev),
                    torch.tensor(knd, device=dev),
                    t,
                )
                .float()
                .cpu()
            )
            mask = torch.zeros(len(rows), n_out, dtype=torch.bool)
            for j, m in enumerate(masks):
                mask[j, : len(m)] = torch.tensor(m)
            best = torch.argmax(scores.masked_fill(~mask, -torch.inf), dim=1).tolist()
            kept = []
            for j, (i, idx) in enumerate(zip(rows, best, strict=True)):
                s, f = states[i], feats_list[i]
                s.push(M.token_of(idx, f))
                if s.done:
                    continue
                kept.append(j)
                cls[j] = M.dec_class(idx, f)
                ptr[j] = idx - n_ops if idx >= n_ops else -1
                knd[j] = s.kind_index
                masks[j] = s.allowed(f.candidates)
            if len(kept) < len(rows):
                rows = [rows[j] for j in kept]
                cls, ptr, knd = ([v[j] for j in kept] for v in (cls, ptr, knd))
                masks = [masks[j] for j in kept]
                if rows:
                    model.keep_rows(cache, torch.tensor(kept, dtype=torch.long))
        alive = set(i for i, m in enumerate(first) if any(m))
        return [s.form() if i in alive and s.done else None for i, s in enumerate(states)]

    def _greedy_full(self, feats_list) -> list:
        """Greedy decoding that reruns the whole decoder prefix at every step:
        the reference :meth:`_greedy` must agree with."""
        model = self.module_
        word, field, obj, pad, cand_pos, cand_pad = self._encoder_batch(feats_list)
        memory = model.encode(word, field, obj, pad)
        b = len(feats_list)
        states = [M.DecodeState(f.min_len, self.max_length) for f in feats_list]
        alive = [any(s.allowed(f.candidates)) for s, f in zip(states, feats_list, strict=True)]
        classes, pointers, kinds = [[0] for _ in range(b)], [[-1] for _ in range(b)], []
        kinds = [[s.kind_index] for s in states]
        n_out = len(M.OPS) + cand_pos.shape[1]
        for _ in range(self.max_length):
            if not any(a and not s.done for a, s in zip(alive, states, strict=True)):
                break
            scores = self._step_scores(
                model, memory, pad, cand_pos, cand_pad, classes, pointers, kinds
            )
            for i, (s, f) in enumerate(zip(states, feats_list, strict=True)):
                if not alive[i] or s.done:
                    classes[i].append(0)
                    pointers[i].append(-1)
                    kinds[i].append(0)
                    continue
                mask = torch.zeros(n_out, dtype=torch.bool)
                allowed = s.allowed(f.candidates)
                mask[: len(allowed)] = torch.tensor(allowed)
                idx = int(torch.argmax(scores[i].cpu().masked_fill(~mask, -torch.inf)))
                s.push(M.token_of(idx, f))
                classes[i].append(M.dec_class(idx, f))
                pointers[i].append(idx - len(M.OPS) if idx >= len(M.OPS) else -1)
                kinds[i].append(s.kind_index)
        return [s.form() if a and s.done else None for s, a in zip(states, alive, strict=True)]

    def _step_scores(self, model, memory, pad, cand_pos, cand_pad, classes, pointers, kinds):
        dev = self.device_
        cls = torch.tensor(classes, device=dev)
        ptr = torch.tensor(pointers, device=dev)
        knd = torch.tensor(kinds, device=dev)
        scores = model.decode(memory, pad, cand_pos, cand_pad, cls, ptr, knd)
        return scores[:, -1].float()

    def _beam(self, feats):
        model = self.module_
        word, field, obj, pad, cand_pos, cand_pad = self._encoder_batch([feats])
        memory = model.encode(word, field, obj, pad)
        start = M.DecodeState(feats.min_len, self.max_length)
        if not any(start.allowed(feats.candidates)):
            return None
        # Each hypothesis: (log-prob, state, classes, pointers, kinds).
        beams = [(0.0, start, [0], [-1], [start.kind_index])]
        finished = []
        for _ in range(self.max_length):
            if not beams:
                break
            k = len(beams)
            scores = self._step_scores(
                model,
                memory.expand(k, -1, -1),
                pad.expand(k, -1),
                cand_pos.expand(k, -1),
                cand_pad.expand(k, -1),
                [h[2] for h in beams],
                [h[3] for h in beams],
                [h[4] for h in beams],
            ).cpu()
            proposals = []
            for j, (lp, state, *_) in enumerate(beams):
                allowed = torch.tensor(state.allowed(feats.candidates))
                logp = torch.log_softmax(
                    scores[j, : len(allowed)].masked_fill(~allowed, -torch.inf), 0
                )
                for idx in torch.nonzero(allowed).flatten().tolist():
                    proposals.append((lp + float(logp[idx]), j, idx))
            proposals.sort(key=lambda p: -p[0])
            new_beams = []
            for lp, j, idx in proposals[: self.beam_size]:
                _, state, cls, ptr, knd = beams[j]
                state = state.copy()
                state.push(M.token_of(idx, feats))
                hyp = (
                    lp,
                    state,
                    [*cls, M.dec_class(idx, feats)],
                    [*ptr, idx - len(M.OPS) if idx >= len(M.OPS) else -1],
                    [*knd, state.kind_index],
                )
                (finished if state.done else new_beams).append(hyp)
            beams = new_beams
            # Stop once no open hypothesis can beat the best finished one.
            if finished and (not beams or max(h[0] for h in beams) < max(h[0] for h in finished)):
                break
        if not finished:
            return None
        return max(finished, key=lambda h: h[0])[1].form()

    def _log_likelihood(self, feats, tokens) -> float:
        """Log-probability of a prefix token sequence under the masked decoder."""
        target = M.encode_target(tokens, feats)
        teach = None if target is None else M.teacher_inputs(target, feats, self.max_length)
        if teach is None:
            return -float("inf")
        cls, ptr, knd, msk = teach
        model = self.module_
        with self._torch_context(), torch.no_grad():
            word, field, obj, pad, cand_pos, cand_pad = self._encoder_batch([feats])
            memory = model.encode(word, field, obj, pad)
            dev = self.device_
            scores = model.decode(
                memory,
                pad,
                cand_pos,
                cand_pad,
                torch.tensor([cls], device=dev),
                torch.tensor([ptr], device=dev),
                torch.tensor([knd], device=dev),
            )[0].float()
            mask = torch.zeros(scores.shape, dtype=torch.bool)
            mask[:, : len(msk[0])] = torch.tensor(msk)
            logp = torch.log_softmax(scores.cpu().masked_fill(~mask, -torch.inf), dim=-1)
            return float(logp[torch.arange(len(target)), torch.tensor(target)].sum())

    def predict_answers(self, X: Sequence[Mapping], kg: KnowledgeGraph | None = None) -> list:
        """Execute the predicted forms on the graph.

        Parameters
        ----------
        X : sequence of dict
            Self-contained turns (CSQA user turn plus ``"previous"``).
        kg : KnowledgeGraph, optional
            Default: the estimator's ``kg``.

        Returns
        -------
        list
            One answer per turn: a list of entity ids, an int or a bool (None
            where no form could be built).
        """
        kg = self._kg_for(kg)
        forms = self.predict(X, kg=kg)
        executor = Executor(kg, strict=False)
        return [
            None if f is None else executor.execute(f, turn)
            for f, turn in zip(forms, X, strict=True)
        ]

    def score(self, X: Sequence[Mapping], y: Sequence, kg: KnowledgeGraph | None = None) -> float:
        """Mean CSQA answer score of the executed predictions.

        The score of a turn is :func:`answer_score`: F1 on entity answers,
        exact match on counts and booleans.

        Parameters
        ----------
        X : sequence of dict
            Self-contained turns (CSQA user turn plus ``"previous"``).
        y : sequence
            Gold answers, or logical forms (executed for the gold answers).
        kg : KnowledgeGraph, optional
            Default: the estimator's ``kg``.

        Returns
        -------
        float
            The mean score over the turns, in [0, 1].
        """
        scores = self._answer_scores(X, y, kg)
        return float(np.mean(scores))

    def _answer_scores(self, X, y, kg) -> list[float]:
        X = self._check_turns(X)
        targets, kind = self._check_y(X, y)
        kg = self._kg_for(kg)
        if kind == "forms":
            executor = Executor(kg, strict=False)
            targets = [executor.execute(f, t) for f, t in zip(targets, X, strict=True)]
        predicted = self.predict_answers(X, kg=kg)
        return [answer_score(p, g) for p, g in zip(predicted, targets, strict=True)]

    def score_by_type(
        self, X: Sequence[Mapping], y: Sequence, kg: KnowledgeGraph | None = None
    ) -> dict[str, dict]:
        """Per-question-type report: ``{type: {"n": int, "score": float}}``.

        Types follow CSQA's order (then any others, then ``"(none)"`` for turns
        without a question type), with ``"overall"`` last.

        Parameters
        ----------
        X : sequence of dict
            Self-contained turns (CSQA user turn plus ``"previous"``).
        y : sequence
            Gold answers, or logical forms (executed for the gold answers).
        kg : KnowledgeGraph, optional
            Default: the estimator's ``kg``.

        Returns
        -------
        dict of str to dict
            Question type -> ``{"n": int, "score": float}``, the number of
            turns and their mean :func:`answer_score`.
        """
        scores = self._answer_scores(X, y, kg)
        report = {
            q: {"n": len(v), "score": float(np.mean(v))}
            for q, v in _group_by_type(list(X), scores).items()
        }
        report["overall"] = {"n": len(scores), "score": float(np.mean(scores))}
        return report

    def csqa_scores(
        self,
        X: Sequence[Mapping],
        y: Sequence,
        kg: KnowledgeGraph | None = None,
        *,
        macro: bool = False,
    ) -> dict[str, dict[str, float]]:
        """CSQA's published metrics of the executed predictions, per question type.

        :func:`~sktheory.logical_form.csqa_scores` of :meth:`predict_answers`:
        micro precision/recall/F1 for entity answers (as LASAGNE and CARTON
        report), accuracy for Verification and the two Count types, D2A's
        macro scores with ``macro=True``. Turns whose gold answer is None
        (replies the reader could not read) are counted as ``"unscored"``.
        ``y`` holds answers (not forms).

        Parameters
        ----------
        X : sequence of dict
            Self-contained turns (CSQA user turn plus ``"previous"``).
        y : sequence
            Gold answers, as :func:`~sktheory.logical_form.read_csqa` gives them.
        kg : KnowledgeGraph, optional
            Default: the estimator's ``kg``.
        macro : bool, default=False
            Report D2A's macro precision, recall and F1 instead of the micro
            ones.

        Returns
        -------
        dict of str to dict of str to float
            Question type -> its scores, as
            :func:`~sktheory.logical_form.csqa_scores` reports them.

        Raises
        ------
        ValueError
            If ``X`` and ``y`` differ in length.
        """
        X = self._check_turns(X)
        if len(y) != len(X):
            raise ValueError(f"X has {len(X)} turns but y has {len(y)} entries.")
        predicted = self.predict_answers(X, kg=kg)
        types = [t.get("question-type") or "(none)" for t in X]
        return _csqa_scores(predicted, list(y), types, macro=macro)


def _lr_factor(step: int, n_batches: int) -> float:
    """Step-size multiplier: linear warm-up over the first epoch, then decay as
    one over the square root of the epoch. It depends on the step alone, not on
    ``max_epochs``, so a warm-started fit continues the same schedule."""
    epoch = (step + 1) / max(1, n_batches)
    return min(1.0, epoch) / math.sqrt(max(1.0, epoch))


def _plain_answer(v):
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, Integral):
        return int(v)
    return [_plain_answer(e) if isinstance(e, Integral) else e for e in v]


def _group_by_type(X, values) -> dict[str, list]:
    groups: dict[str, list] = {}
    for turn, v in zip(X, values, strict=True):
        qt = turn.get("question-type")
        groups.setdefault(qt if isinstance(qt, str) else "(none)", []).append(v)
    order = [q for q in QUESTION_TYPES if q in groups]
    order += sorted(q for q in groups if q not in QUESTION_TYPES and q != "(none)")
    order += ["(none)"] if "(none)" in groups else []
    return {q: groups[q] for q in order}


def _by_type(X, values) -> dict[str, float]:
    return {q: float(np.mean(v)) for q, v in _group_by_type(X, values).items()}
