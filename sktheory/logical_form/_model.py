"""Featurization, constrained decoding state and the torch encoder-decoder of
:class:`~sktheory.logical_form.LogicalFormParser`.

The encoder reads one flat token list per turn. Every token is the sum of a
word embedding, a *field* embedding (which part of the turn it comes from) and
an *object* embedding (which candidate symbol it belongs to, 0 for none), plus
a position. Candidate symbols (from :func:`candidate_symbols`) each start with a
head token whose encoder output is what the decoder points at, so the model
never holds a global entity vocabulary.

The decoder emits the prefix (Polish) form of a logical form: operator tokens
from a fixed vocabulary and symbol tokens by pointing at candidate heads. At
each step the scores are masked to what :class:`PrefixState` allows and to
what can still be completed within ``max_length`` tokens with the symbols at
hand, so every decoded sequence is a well-typed form.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping
from functools import lru_cache
from weakref import WeakKeyDictionary

import torch
from torch import nn

from .executor import previous_refs
from .grammar import KINDS, OPERATORS, REFERENCES, TOP_KINDS, PrefixState, from_linear
from .supervision import candidate_symbols

OPS = tuple(OPERATORS)
_OP_INDEX = {name: i for i, name in enumerate(OPS)}
# Decoder input classes: BOS, the operators, then one per leaf category.
_LEAF_CATEGORIES = ("entity", "ref", "relation", "type", "number")
_N_DEC_CLASSES = 1 + len(OPS) + len(_LEAF_CATEGORIES)
_KIND_INDEX = {k: i + 1 for i, k in enumerate(KINDS)}

# Fields of encoder tokens.
F_UTT, F_PREV_UTT, F_PREV_ANS = 1, 2, 3
F_ENT, F_ENT_PREV, F_ENT_TYPE = 4, 5, 6
F_REL, F_REL_PREV, F_TYPE, F_TYPE_PREV = 7, 8, 9, 10
F_NUM, F_REF = 11, 12
F_REL_DOMAIN, F_REL_RANGE, F_ROLE = 13, 14, 15
N_FIELDS = 16
MAX_OBJECTS = 16

PAD, UNK = "<pad>", "<unk>"
_ROLES = ("<subject>", "<object>", "<domain>", "<range>", "<mention>")
_SPECIAL = (PAD, UNK, "<num>", "<entity>", "<relation>", "<type>", "<number>", *REFERENCES, *_ROLES)
_WORD = re.compile(r"\w+|[^\w\s]")
_INF = 10**6


def words(text) -> list[str]:
    """Lower-cased word tokens; digits become ``<num>``."""
    if not isinstance(text, str):
        return []
    return ["<num>" if w.isdigit() else w.lower() for w in _WORD.findall(text)]


def _label(kg, identifier: str) -> str:
    return kg.label(identifier) if kg is not None else identifier


_SIGNATURES: WeakKeyDictionary = WeakKeyDictionary()


def relation_signatures(kg) -> dict[str, tuple[str | None, str | None]]:
    """Relation -> (most frequent subject type, most frequent object type).

    Tells the encoder which way a relation points between the turn's types
    (``count_each`` vs ``count_each_reverse``, ``find`` vs ``find_reverse``).
    Computed once per graph.
    """
    if kg is None:
        return {}
    sig = _SIGNATURES.get(kg)
    if sig is None:
        subj: dict[str, Counter] = {}
        obj: dict[str, Counter] = {}
        for s, r, o in kg.triples():
            subj.setdefault(r, Counter()).update(kg.types_of(s))
            obj.setdefault(r, Counter()).update(kg.types_of(o))

        def top(c):
            return c.most_common(1)[0][0] if c else None

        sig = {r: (top(subj.get(r)), top(obj.get(r))) for r in set(subj) | set(obj)}
        _SIGNATURES[kg] = sig
    return sig


class Vocabulary:
    """Word -> index, with ``<unk>`` for words seen fewer than ``min_count`` times."""

    def __init__(self, counts: Counter, min_count: int = 1):
        self.words = list(_SPECIAL) + sorted(
            w for w, c in counts.items() if c >= min_count and w not in _SPECIAL
        )
        self.index = {w: i for i, w in enumerate(self.words)}

    def __len__(self) -> int:
        return len(self.words)

    def __call__(self, word: str) -> int:
        return self.index.get(word, 1)


def _turn_text(turn: Mapping, context: str) -> list[tuple[str, list[str]]]:
    prev = turn.get("previous") or {}
    out = [("utterance", words(turn.get("utterance")))]
    if context == "structured":
        out.append(("prev_utterance", words((prev.get("user") or {}).get("utterance"))))
        out.append(("prev_answer", words((prev.get("system") or {}).get("utterance"))))
    return out


def count_words(turns, kg, context: str, candidates: str = "gold", ranker=None) -> Counter:
    """Word counts over the turns' text and the labels of their candidates."""
    counts: Counter = Counter()
    for turn in turns:
        for _, ws in _turn_text(turn, context):
            counts.update(ws)
        cands = candidate_symbols(turn, kg, candidates=candidates, ranker=ranker)
        for key in ("entities", "relations", "types"):
            for identifier in cands[key]:
                counts.update(words(_label(kg, identifier)))
    if kg is not None:  # type labels also describe entities and relations
        for t in kg.types:
            counts.update(words(_label(kg, t)))
    return counts


class Features:
    """Encoder input of one turn, and its candidate symbols in pointer order."""

    __slots__ = ("word", "field", "obj", "cand_pos", "candidates", "min_len")

    def __init__(self, word, field, obj, cand_pos, candidates, min_len):
        self.word, self.field, self.obj = word, field, obj
        self.cand_pos = cand_pos
        self.candidates = candidates  # list of (category, value)
        self.min_len = min_len


def featurize(
    turn: Mapping,
    kg,
    vocab: Vocabulary,
    context: str,
    max_tokens: int,
    candidates: str = "gold",
    ranker=None,
) -> Features:
    """Flatten a turn into encoder tokens (see the module docstring).

    ``context="utterance"`` keeps only the utterance and bare candidate heads
    (no labels, no previous turn): the baseline without structured context.
    ``candidates`` and ``ranker`` go to :func:`candidate_symbols`: with
    ``"graph"`` nothing here reads the turn's ``relations`` or ``type_list``.
    """
    cands = candidate_symbols(turn, kg, candidates=candidates, ranker=ranker)
    structured = context == "structured"
    word, field, obj = [], [], []

    def add(ws, f, o=0, limit=None):
        for w in ws[:limit]:
            word.append(vocab(w))
            field.append(f)
            obj.append(o)

    # Words of an entity's label in the text become a mention of that entity
    # (its object index), not a word: names of unseen entities then read the
    # same as names seen in training.
    mention: dict[str, int] = {}
    for k, e in reversed(list(enumerate(cands["entities"]))):
        for w in words(_label(kg, e)):
            mention[w] = min(k + 1, MAX_OBJECTS - 1)
    limits = {"utterance": 48, "prev_utterance": 32, "prev_answer": 12}
    for name, ws in _turn_text(turn, context):
        f = {"utterance": F_UTT, "prev_utterance": F_PREV_UTT, "prev_answer": F_PREV_ANS}[name]
        for w in ws[: limits[name]]:
            o = mention.get(w, 0) if kg is not None else 0
            word.append(vocab("<mention>") if o else vocab(w))
            field.append(f)
            obj.append(o)

    candidates, cand_pos = [], []

    def head(category, value, marker, f, k, label_words=(), extra=()):
        o = min(k + 1, MAX_OBJECTS - 1)
        cand_pos.append(len(word))
        candidates.append((category, value))
        add([marker], f, o)
        if structured:
            add(list(label_words), f, o, 8)
            for ws, f2 in extra:
                add(ws, f2, o, 6)

    cur_e = set(turn.get("entities_in_utterance") or ())
    signatures = relation_signatures(kg)
    for k, e in enumerate(cands["entities"]):
        extra = []
        if kg is not None:
            for t in sorted(kg.types_of(e))[:2]:
                extra.append((words(_label(kg, t)), F_ENT_TYPE))
            # Roles of the entity under the turn's relations: which way to follow them.
            roles = []
            for r in cands["relations"]:
                if kg.objects(e, r):
                    roles.append("<subject>")
                if kg.subjects(e, r):
                    roles.append("<object>")
            extra.append((sorted(set(roles)), F_ROLE))
        f = F_ENT if e in cur_e else F_ENT_PREV
        head("entity", e, "<entity>", f, k, words(_label(kg, e)), extra)
    for ref in cands["references"]:
        head("ref", ref, ref, F_REF, REFERENCES.index(ref))
    cur_r = cands["current"]["relation"]
    for k, r in enumerate(cands["relations"]):
        f = F_REL if r in cur_r else F_REL_PREV
        domain, range_ = signatures.get(r, (None, None))
        extra = [
            (words(_label(kg, t)), f2)
            for t, f2 in ((domain, F_REL_DOMAIN), (range_, F_REL_RANGE))
            if t is not None
        ]
        head("relation", r, "<relation>", f, k, words(_label(kg, r)), extra)
    cur_t = cands["current"]["type"]
    for k, t in enumerate(cands["types"]):
        f = F_TYPE if t in cur_t else F_TYPE_PREV
        roles = set()
        for r in cands["relations"]:
            domain, range_ = signatures.get(r, (None, None))
            roles.update(["<domain>"] * (t == domain) + ["<range>"] * (t == range_))
        head("type", t, "<type>", f, k, words(_label(kg, t)), [(sorted(roles), F_ROLE)])
    for k, n in enumerate(cands["numbers"]):
        head("number", str(n), "<number>", F_NUM, k)

    if len(word) > max_tokens:
        # Keep every candidate head and the utterance; drop what matters least
        # (previous answer, then previous utterance, then labels) past the limit.
        heads = set(cand_pos)
        rank = {F_UTT: 1, F_PREV_ANS: 4, F_PREV_UTT: 3}
        order = sorted(range(len(word)), key=lambda i: 0 if i in heads else rank.get(field[i], 2))
        idx = sorted(order[:max_tokens])
        remap = {old: new for new, old in enumerate(idx)}
        word = [word[i] for i in idx]
        field = [field[i] for i in idx]
        obj = [obj[i] for i in idx]
        cand_pos = [remap[p] for p in cand_pos]
    avail = {c: any(cat == c for cat, _ in candidates) for c in _LEAF_CATEGORIES}
    return Features(word, field, obj, cand_pos, candidates, min_lengths(avail))


def min_lengths(avail: Mapping[str, bool]) -> dict[str, int]:
    """Fewest tokens that complete a node of each kind with the symbols at hand."""
    return dict(_min_lengths(tuple(bool(avail[c]) for c in _LEAF_CATEGORIES)))


@lru_cache(maxsize=64)
def _min_lengths(flags: tuple[bool, ...]) -> tuple:
    avail = dict(zip(_LEAF_CATEGORIES, flags, strict=True))
    m = {
        "rel": 1 if avail["relation"] else _INF,
        "type": 1 if avail["type"] else _INF,
        "set": 1 if (avail["entity"] or avail["ref"]) else _INF,
        "num": 1 if avail["number"] else _INF,
        "bool": _INF,
        "counts": _INF,
        "pair": _INF,
    }
    for _ in range(len(m) + 1):
        for sig in OPERATORS.values():
            m[sig.result] = min(m[sig.result], 1 + sum(m[a] for a in sig.args))
    return tuple((k, min(v, _INF)) for k, v in m.items())


class DecodeState:
    """Grammar state of one partial form, with a length budget.

    Wraps :class:`PrefixState` (the grammar) and mirrors its stack of expected
    kinds to forbid tokens after which no form can be finished within
    ``max_length`` tokens using the turn's candidate symbols.
    """

    __slots__ = ("prefix", "stack", "n", "max_length", "min_len", "tokens")

    def __init__(self, min_len: dict, max_length: int):
        self.prefix = PrefixState()
        self.stack: list[tuple[str, ...]] = [TOP_KINDS]
        self.n = 0
        self.max_length = max_length
        self.min_len = min_len
        self.tokens: list[tuple[str, str]] = []

    def copy(self) -> DecodeState:
        new = DecodeState.__new__(DecodeState)
        new.prefix = PrefixState()
        new.prefix._stack = list(self.prefix._stack)
        new.prefix.n_tokens = self.prefix.n_tokens
        new.stack = list(self.stack)
        new.n, new.max_length, new.min_len = self.n, self.max_length, self.min_len
        new.tokens = list(self.tokens)
        return new

    @property
    def done(self) -> bool:
        return not self.stack

    @property
    def kind_index(self) -> int:
        return _KIND_INDEX[self.stack[-1][0]] if self.stack else 0

    def allowed(self, candidates) -> list[bool]:
        """Mask over ``OPS + candidates``."""
        if not self.stack:
            return [False] * (len(OPS) + len(candidates))
        rest = sum(min(self.min_len[k] for k in kinds) for kinds in self.stack[:-1])
        room = self.max_length - self.n - 1 - rest
        grammar = self.prefix.allowed()
        ops = set(grammar["ops"])
        mask = [
            name in ops and sum(self.min_len[a] for a in OPERATORS[name].args) <= room
            for name in OPS
        ]
        cats = set(grammar["categories"]) if room >= 0 else set()
        mask += [cat in cats for cat, _ in candidates]
        return mask

    def push(self, token: tuple[str, str]) -> None:
        self.prefix.push(token)
        category, value = token
        self.stack.pop()
        if category == "op":
            self.stack.extend((k,) for k in reversed(OPERATORS[value].args))
        self.n += 1
        self.tokens.append(token)

    def form(self):
        return from_linear(self.tokens)


def encode_target(tokens, feats: Features) -> list[int] | None:
    """Output indices of a linearized form, or None if a symbol is not a candidate."""
    out = []
    index = {c: len(OPS) + i for i, c in enumerate(feats.candidates)}
    for category, value in tokens:
        if category == "op":
            out.append(_OP_INDEX[value])
        else:
            j = index.get((category, str(value)))
            if j is None:
                return None
            out.append(j)
    return out


def token_of(index: int, feats: Features) -> tuple[str, str]:
    if index < len(OPS):
        return ("op", OPS[index])
    return feats.candidates[index - len(OPS)]


def dec_class(index: int, feats: Features) -> int:
    if index < len(OPS):
        return 1 + index
    category = feats.candidates[index - len(OPS)][0]
    return 1 + len(OPS) + _LEAF_CATEGORIES.index(category)


def teacher_inputs(target: list[int], feats: Features, max_length: int):
    """Decoder inputs (class, pointer, kind) and masks along a gold sequence."""
    state = DecodeState(feats.min_len, max_length)
    classes, pointers, kinds, masks = [0], [-1], [], []
    for t, idx in enumerate(target):
        kinds.append(state.kind_index)
        mask = state.allowed(feats.candidates)
        if not mask[idx]:
            return None
        masks.append(mask)
        state.push(token_of(idx, feats))
        if t + 1 < len(target):
            classes.append(dec_class(idx, feats))
            pointers.append(idx - len(OPS) if idx >= len(OPS) else -1)
    if not state.done:
        return None
    return classes, pointers, kinds, masks


def has_reference(turn: Mapping) -> dict:
    return previous_refs(turn)


# ----------------------------------------------------------------------------
# The network


class Seq2Seq(nn.Module):
    """Transformer encoder-decoder with a pointer over candidate heads."""

    def __init__(
        self,
        n_words: int,
        d_model: int,
        n_layers: int,
        n_heads: int,
        max_tokens: int,
        max_length: int,
    ):
        super().__init__()
        self.d_model = d_model
        self.word = nn.Embedding(n_words, d_model)
        self.field = nn.Embedding(N_FIELDS, d_model)
        self.obj = nn.Embedding(MAX_OBJECTS, d_model)
        self.pos = nn.Embedding(max_tokens, d_model)
        self.enc_norm = nn.LayerNorm(d_model)
        # Dropout inside the layers would draw from torch's global generator;
        # the estimator drops embeddings itself with its own generator.
        enc = nn.TransformerEncoderLayer(
            d_model, n_heads, 4 * d_model, dropout=0.0, batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(enc, n_layers, enable_nested_tensor=False)
        self.dec_class = nn.Embedding(_N_DEC_CLASSES, d_model)
        self.dec_kind = nn.Embedding(len(_KIND_INDEX) + 1, d_model)
        self.dec_pos = nn.Embedding(max_length + 1, d_model)
        self.ptr_in = nn.Linear(d_model, d_model)
        self.dec_norm = nn.LayerNorm(d_model)
        dec = nn.TransformerDecoderLayer(
            d_model, n_heads, 4 * d_model, dropout=0.0, batch_first=True, norm_first=True
        )
        self.decoder = nn.TransformerDecoder(dec, n_layers)
        self.out_norm = nn.LayerNorm(d_model)
        self.op_out = nn.Linear(d_model, len(OPS))
        self.ptr_q = nn.Linear(d_model, d_model)
        self.ptr_k = nn.Linear(d_model, d_model)

    def reset(self, generator: torch.Generator) -> None:
        """Initialise every parameter from ``generator`` (never the global seed)."""
        with torch.no_grad():
            for name, p in self.named_parameters():
                if "norm" in name:
                    p.fill_(1.0 if name.endswith("weight") else 0.0)
                elif p.dim() == 1:
                    p.zero_()
                elif isinstance(self._owner(name), nn.Embedding):
                    p.copy_(torch.randn(p.shape, generator=generator, dtype=p.dtype) * 0.1)
                else:
                    fan_out, fan_in = p.shape[0], p.shape[1]
                    bound = math.sqrt(6.0 / (fan_in + fan_out))
                    u = torch.rand(p.shape, generator=generator, dtype=p.dtype)
                    p.copy_((2 * u - 1) * bound)

    def _owner(self, name: str):
        module = self
        for part in name.split(".")[:-1]:
            module = getattr(module, part)
        return module

    def encode(self, word, field, obj, pad, drop=None):
        n = word.shape[1]
        pos = torch.arange(n, device=word.device)
        x = self.word(word) + self.field(field) + self.obj(obj) + self.pos(pos)[None]
        if drop is not None:
            x = x * drop
        return self.encoder(self.enc_norm(x), src_key_padding_mask=pad)

    def decode(self, memory, pad, cand_pos, cand_pad, classes, pointers, kinds, drop=None):
        """Scores over ``OPS + candidates`` for every decoder step."""
        b, t = classes.shape
        keys = torch.gather(memory, 1, cand_pos[..., None].expand(-1, -1, self.d_model))
        ptr = torch.gather(keys, 1, pointers.clamp(min=0)[..., None].expand(-1, -1, self.d_model))
        ptr = self.ptr_in(ptr) * (pointers >= 0)[..., None].to(memory.dtype)
        pos = torch.arange(t, device=classes.device)
        y = self.dec_class(classes) + ptr + self.dec_kind(kinds) + self.dec_pos(pos)[None]
        if drop is not None:
            y = y * drop
        causal = torch.triu(torch.ones(t, t, dtype=torch.bool, device=y.device), 1)
        h = self.decoder(self.dec_norm(y), memory, tgt_mask=causal, memory_key_padding_mask=pad)
        h = self.out_norm(h)
        op_scores = self.op_out(h)
        ptr_scores = self.ptr_q(h) @ self.ptr_k(keys).transpose(1, 2) / math.sqrt(self.d_model)
        ptr_scores = ptr_scores.masked_fill(cand_pad[:, None, :], -1e9)
        return torch.cat([op_scores, ptr_scores], dim=-1)

    # ------------------------------------------------------------------
    # Incremental (cached) decoding for prediction. The decoder is causal and
    # has no dropout, so the states of earlier positions never change: each
    # step runs the new position only, attending to cached keys and values,
    # and the memory's cross-attention keys/values are projected once.

    def start_decoding(self, memory, pad, cand_pos, cand_pad) -> dict:
        """Per-batch cache for :meth:`decode_step`.

        Parameters
        ----------
        memory : Tensor of shape (batch, n_tokens, d_model)
            Encoder output.
        pad : Tensor of bool, shape (batch, n_tokens)
            True at padding tokens.
        cand_pos : Tensor of int, shape (batch, n_candidates)
            Positions of the candidate heads in ``memory``.
        cand_pad : Tensor of bool, shape (batch, n_candidates)
            True at padding candidates.

        Returns
        -------
        dict
            Projected cross-attention keys and values per layer, pointer keys
            and empty self-attention caches.
        """
        d = self.d_model
        keys = torch.gather(memory, 1, cand_pos[..., None].expand(-1, -1, d))
        layers = []
        for layer in self.decoder.layers:
            mha = layer.multihead_attn
            w, b = mha.in_proj_weight, mha.in_proj_bias
            k = nn.functional.linear(memory, w[d : 2 * d], b[d : 2 * d])
            v = nn.functional.linear(memory, w[2 * d :], b[2 * d :])
            layers.append(
                {"mem_k": self._heads(k, mha), "mem_v": self._heads(v, mha), "k": None, "v": None}
            )
        return {
            "keys": keys,
            "ptr_k": self.ptr_k(keys),
            "cand_pad": cand_pad,
            # SDPA's boolean mask marks the positions that take part.
            "mem_mask": (~pad)[:, None, None, :],
            "layers": layers,
        }

    @staticmethod
    def _heads(x, mha):
        b, t, d = x.shape
        h = mha.num_heads
        return x.view(b, t, h, d // h).transpose(1, 2)

    def _attend(self, mha, q, k, v, mask=None):
        b = q.shape[0]
        out = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        out = out.transpose(1, 2).reshape(b, 1, self.d_model)
        return mha.out_proj(out)

    def decode_step(self, cache: dict, classes, pointers, kinds, t: int):
        """Scores over ``OPS + candidates`` for the next token of every row.

        Parameters
        ----------
        cache : dict
            From :meth:`start_decoding`, updated in place.
        classes, pointers, kinds : Tensor of int, shape (batch,)
            Decoder input of position ``t`` (as in :meth:`decode`).
        t : int
            Position of this step (0 for the start token).

        Returns
        -------
        Tensor of shape (batch, n_ops + n_candidates)
            The same scores :meth:`decode` gives at position ``t``.
        """
        d = self.d_model
        keys = cache["keys"]
        ptr = torch.gather(keys, 1, pointers.clamp(min=0)[:, None, None].expand(-1, 1, d))
        ptr = self.ptr_in(ptr) * (pointers >= 0)[:, None, None].to(keys.dtype)
        y = self.dec_class(classes)[:, None] + ptr + self.dec_kind(kinds)[:, None]
        x = self.dec_norm(y + self.dec_pos.weight[t])
        for layer, c in zip(self.decoder.layers, cache["layers"], strict=True):
            sa = layer.self_attn
            qkv = nn.functional.linear(layer.norm1(x), sa.in_proj_weight, sa.in_proj_bias)
            q, k, v = (self._heads(z, sa) for z in qkv.split(d, dim=-1))
            c["k"] = k if c["k"] is None else torch.cat([c["k"], k], dim=2)
            c["v"] = v if c["v"] is None else torch.cat([c["v"], v], dim=2)
            x = x + self._attend(sa, q, c["k"], c["v"])
            mha = layer.multihead_attn
            q = nn.functional.linear(layer.norm2(x), mha.in_proj_weight[:d], mha.in_proj_bias[:d])
            x = x + self._attend(
                mha, self._heads(q, mha), c["mem_k"], c["mem_v"], cache["mem_mask"]
            )
            x = x + layer.linear2(layer.activation(layer.linear1(layer.norm3(x))))
        h = self.out_norm(x)[:, 0]
        op_scores = self.op_out(h)
        ptr_scores = (self.ptr_q(h)[:, None] @ cache["ptr_k"].transpose(1, 2))[:, 0]
        ptr_scores = ptr_scores / math.sqrt(d)
        ptr_scores = ptr_scores.masked_fill(cache["cand_pad"], -1e9)
        return torch.cat([op_scores, ptr_scores], dim=-1)

    def keep_rows(self, cache: dict, rows) -> None:
        """Drop finished rows from a decoding cache (``rows``: indices kept)."""
        for key in ("keys", "ptr_k", "cand_pad", "mem_mask"):
            cache[key] = cache[key][rows]
        for c in cache["layers"]:
            for key in ("mem_k", "mem_v", "k", "v"):
                if c[key] is not None:
                    c[key] = c[key][rows]
