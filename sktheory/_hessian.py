"""Curvature operators of PyTorch models and the spectral tools that use them.

Private module: the public names are re-exported from :mod:`sktheory.diagnostics`.

A :class:`CurvatureOperator` is a symmetric matrix over a flat parameter
vector, known only through its products with vectors (Hessian, generalised
Gauss-Newton or empirical Fisher of a loss). Three solvers use it:

* :func:`top_eigenvalues`: thick-restart Lanczos with full
  reorthogonalisation, stopping when every wanted Ritz pair has a small
  residual;
* :func:`hutchinson_trace`: the trace from Rademacher probes, with its
  standard error;
* :func:`spectral_density`: stochastic Lanczos quadrature.

Each returns the number of operator products and the wall-clock time used.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from sklearn.utils import check_random_state
from torch import nn

LossFn = Callable[[Sequence[torch.Tensor]], torch.Tensor]
Kind = Literal["hessian", "ggn", "fisher"]
_WHICH = ("LA", "LM", "SA")


# --------------------------------------------------------------- helpers on lists
def _leaves(params: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Fresh leaf tensors that require grad, so callers' tensors are untouched."""
    if len(params) == 0:
        raise ValueError("params is empty: there is no parameter to differentiate.")
    leaves = []
    for p in params:
        if not isinstance(p, torch.Tensor):
            raise TypeError(f"params must be torch tensors, got {type(p).__name__}.")
        if not torch.is_floating_point(p):
            raise TypeError(f"params must be floating-point tensors, got {p.dtype}.")
        leaves.append(p.detach().clone().requires_grad_(True))
    return leaves


def _scalar_loss(loss_fn: LossFn, leaves: list[torch.Tensor]) -> torch.Tensor:
    loss = loss_fn(leaves)
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        raise ValueError("loss_fn must return a scalar torch tensor.")
    return loss.reshape(())


def _zeros_for_none(grads: Sequence[torch.Tensor | None], like: Sequence[torch.Tensor]):
    return [torch.zeros_like(p) if g is None else g for p, g in zip(like, grads, strict=True)]


def _gradients(loss_fn: LossFn, leaves: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    loss = _scalar_loss(loss_fn, leaves)
    # allow_unused: a parameter the loss ignores has a zero Hessian block.
    grads = torch.autograd.grad(loss, leaves, create_graph=True, allow_unused=True)
    return tuple(_zeros_for_none(grads, leaves))


def _hvp_from_grads(
    grads: Sequence[torch.Tensor],
    leaves: Sequence[torch.Tensor],
    vectors: Sequence[torch.Tensor],
) -> list[torch.Tensor]:
    # d/dp <grad(p), v> = H v; the graph of grad is kept for the next product.
    pairs = [(g, v) for g, v in zip(grads, vectors, strict=True) if g.requires_grad]
    if not pairs:
        return [torch.zeros_like(p) for p in leaves]
    out = torch.autograd.grad(
        [g for g, _ in pairs],
        list(leaves),
        grad_outputs=[v for _, v in pairs],
        retain_graph=True,
        allow_unused=True,
    )
    return [h.detach() for h in _zeros_for_none(out, leaves)]


def _flatten(params: Sequence[torch.Tensor]) -> torch.Tensor:
    return torch.cat([p.reshape(-1) for p in params])


def _split(flat: torch.Tensor, params: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    pieces, start = [], 0
    for p in params:
        pieces.append(flat[start : start + p.numel()].reshape(p.shape))
        start += p.numel()
    return pieces


def _sync(device: torch.device) -> None:
    # CUDA kernels run asynchronously: without this the times would be launch times.
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ---------------------------------------------------------------------- operator
class CurvatureOperator:
    """A symmetric curvature matrix over flattened parameters, applied by products.

    Build one with :func:`curvature_operator` (a model, a loss and data) or
    :meth:`from_loss` (a loss as a function of a list of tensors). The matrix
    is never formed; :attr:`n_products` counts the products made so far.

    Parameters
    ----------
    matvec : callable
        Maps a list of tensors shaped like ``shapes`` to the product, same layout.
    shapes : sequence of torch.Size
        The parameter shapes, in order; vectors are flattened in this order.
    dtype, device : torch.dtype, torch.device
        Those of the parameters (and of every vector).
    kind : {"hessian", "ggn", "fisher"}, default="hessian"
        Which curvature matrix ``matvec`` applies (a label, see
        :func:`curvature_operator`).
    names : sequence of str or None, default=None
        Parameter names, when known.

    Attributes
    ----------
    n_params : int
        Total number of parameter entries (the matrix's size).
    n_products : int
        Products made since construction.

    Examples
    --------
    >>> import torch
    >>> A = torch.tensor([[2.0, 1.0], [1.0, 3.0]], dtype=torch.float64)
    >>> op = CurvatureOperator.from_loss(lambda p: 0.5 * p[0] @ A @ p[0],
    ...                                  [torch.zeros(2, dtype=torch.float64)])
    >>> op.matvec(torch.tensor([1.0, 0.0], dtype=torch.float64))
    tensor([2., 1.], dtype=torch.float64)
    >>> op.n_products, op.n_params
    (1, 2)
    """

    def __init__(
        self,
        matvec: Callable[[list[torch.Tensor]], list[torch.Tensor]],
        shapes: Sequence[torch.Size],
        dtype: torch.dtype,
        device: torch.device | str,
        *,
        kind: Kind = "hessian",
        names: Sequence[str] | None = None,
    ) -> None:
        self._matvec = matvec
        self.shapes = [torch.Size(s) for s in shapes]
        self.dtype = dtype
        self.device = torch.device(device)
        self.kind = kind
        self.names = None if names is None else list(names)
        self.n_params = int(sum(s.numel() for s in self.shapes))
        self.n_products = 0

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_params, n_params)``, the shape of the matrix the operator applies."""
        return (self.n_params, self.n_params)

    def __repr__(self) -> str:
        return (
            f"CurvatureOperator(kind={self.kind!r}, n_params={self.n_params}, "
            f"dtype={self.dtype}, device={self.device})"
        )

    def unflatten(self, flat: torch.Tensor) -> list[torch.Tensor]:
        """Split a flat vector into tensors shaped like the parameters.

        Parameters
        ----------
        flat : torch.Tensor of shape (n_params,)
            A flat vector.

        Returns
        -------
        list of torch.Tensor
            One view of ``flat`` per parameter, in the order of ``shapes``.
        """
        pieces, start = [], 0
        for s in self.shapes:
            pieces.append(flat[start : start + s.numel()].reshape(s))
            start += s.numel()
        return pieces

    def flatten(self, tensors: Sequence[torch.Tensor]) -> torch.Tensor:
        """Concatenate one tensor per parameter into a flat vector.

        Parameters
        ----------
        tensors : sequence of torch.Tensor
            One tensor per parameter, shaped as in ``shapes``.

        Returns
        -------
        torch.Tensor of shape (n_params,)
            The flat vector.
        """
        return _flatten(tensors)

    def matvec(self, v: torch.Tensor) -> torch.Tensor:
        """The product of the matrix with a flat vector.

        Parameters
        ----------
        v : torch.Tensor of shape (n_params,)
            The vector; moved to the operator's device and dtype.

        Returns
        -------
        torch.Tensor of shape (n_params,)
            The product ``A v``.
        """
        v = torch.as_tensor(v).to(device=self.device, dtype=self.dtype)
        if v.shape != (self.n_params,):
            raise ValueError(f"v must have shape ({self.n_params},), got {tuple(v.shape)}.")
        self.n_products += 1
        return _flatten(self._matvec(self.unflatten(v)))

    def __matmul__(self, v: torch.Tensor) -> torch.Tensor:
        return self.matvec(v)

    def dense(self) -> torch.Tensor:
        """The full matrix, column by column (``n_params`` products; small models only).

        Returns
        -------
        torch.Tensor of shape (n_params, n_params)
            The matrix.
        """
        eye = torch.eye(self.n_params, dtype=self.dtype, device=self.device)
        return torch.stack([self.matvec(e) for e in eye], dim=1)

    @classmethod
    def from_loss(cls, loss_fn: LossFn, params: Sequence[torch.Tensor]) -> CurvatureOperator:
        """The Hessian of ``loss_fn`` at ``params`` (the ``_sharpness_problem`` protocol).

        The gradient graph is built once and reused by every product.

        Parameters
        ----------
        loss_fn : callable
            Maps a list of tensors shaped like ``params`` to a scalar tensor.
        params : sequence of torch.Tensor
            The point at which the Hessian is taken (not modified).

        Returns
        -------
        CurvatureOperator
            The Hessian as an operator (``kind="hessian"``).
        """
        leaves = _leaves(params)
        dtypes = {p.dtype for p in leaves}
        if len(dtypes) > 1:
            raise TypeError(f"params must share one dtype, got {sorted(map(str, dtypes))}.")
        grads = _gradients(loss_fn, leaves)
        return cls(
            lambda vs: _hvp_from_grads(grads, leaves, vs),
            [p.shape for p in leaves],
            leaves[0].dtype,
            leaves[0].device,
        )


@contextmanager
def _eval_or_train(model: nn.Module, train: bool):
    """Set every module to eval (or train) mode, then restore each one's own mode."""
    modes = [(m, m.training) for m in model.modules()]
    model.train(train)
    try:
        yield
    finally:
        for m, mode in modes:
            m.training = mode


def _forward(model: nn.Module, inputs: torch.Tensor, train: bool) -> Any:
    with _eval_or_train(model, train):
        if not train:
            return model(inputs)
        # Training mode updates BatchNorm running statistics in place: run it on
        # copies of the buffers so that the model's own are never touched.
        buffers = {name: b.clone() for name, b in model.named_buffers()}
        return torch.func.functional_call(model, buffers, (inputs,), strict=False)


def _per_sample_losses(criterion: Callable, out: torch.Tensor, targets: Any) -> torch.Tensor:
    """Per-sample losses whose mean is ``criterion(out, targets)``."""
    n = out.shape[0]
    if isinstance(criterion, nn.Module) and getattr(criterion, "reduction", None) == "mean":
        crit = copy.copy(criterion)
        crit.reduction = "none"
        per = crit(out, targets)
        per = per.reshape(n, -1).mean(dim=1) if per.dim() > 1 else per
        if isinstance(criterion, nn.CrossEntropyLoss) and criterion.weight is not None:
            per = None  # a weighted mean is not a plain mean of these
    else:
        per = None
    if per is None or per.shape != (n,):
        per = torch.stack([criterion(out[i : i + 1], targets[i : i + 1]) for i in range(n)])
    total = criterion(out, targets).detach()
    if not torch.allclose(
        per.detach().mean(), total, rtol=1e-4, atol=1e-6 * (1 + float(total.abs()))
    ):
        raise ValueError(
            "The empirical Fisher needs a loss that is the mean of per-sample losses; "
            "this criterion is not."
        )
    return per


class _Batch:
    """The graphs of one batch from which products are taken by backward passes."""

    def __init__(self, model, criterion, inputs, targets, params, kind: Kind, train: bool):
        self.params = params
        self.kind = kind
        out = _forward(model, inputs, train)
        if not isinstance(out, torch.Tensor):
            raise TypeError(f"the model must return a tensor, got {type(out).__name__}.")
        if kind == "hessian":
            loss = _check_scalar(criterion(out, targets))
            grads = torch.autograd.grad(loss, params, create_graph=True, allow_unused=True)
            self.grads = _zeros_for_none(grads, params)
            return
        if kind == "ggn":
            loss = _check_scalar(criterion(out, targets))
            self.out = out
            (self.dloss_dout,) = torch.autograd.grad(loss, out, create_graph=True)
            self.target = out
        else:  # fisher
            self.target = _per_sample_losses(criterion, out, targets)
        # J' u for a dummy u: differentiating it in u gives J v (the double-vjp trick),
        # and reuses this one graph for every product.
        self.u = torch.zeros_like(self.target, requires_grad=True)
        jt_u = torch.autograd.grad(
            self.target, params, grad_outputs=self.u, create_graph=True, allow_unused=True
        )
        self.jt_u = [(g, i) for i, g in enumerate(jt_u) if g is not None]

    def _jvp(self, vs: list[torch.Tensor]) -> torch.Tensor:
        if not self.jt_u:
            return torch.zeros_like(self.target)
        (jv,) = torch.autograd.grad(
            [g for g, _ in self.jt_u],
            self.u,
            grad_outputs=[vs[i] for _, i in self.jt_u],
            retain_graph=True,
        )
        return jv

    def _vjp(self, w: torch.Tensor) -> list[torch.Tensor]:
        out = torch.autograd.grad(
            self.target, self.params, grad_outputs=w, retain_graph=True, allow_unused=True
        )
        return [g.detach() for g in _zeros_for_none(out, self.params)]

    def matvec(self, vs: list[torch.Tensor]) -> list[torch.Tensor]:
        if self.kind == "hessian":
            return _hvp_from_grads(self.grads, self.params, vs)
        jv = self._jvp(vs)
        if self.kind == "fisher":
            return self._vjp(jv / jv.shape[0])
        if not self.dloss_dout.requires_grad:  # the loss is linear in the outputs
            return [torch.zeros_like(p) for p in self.params]
        (hjv,) = torch.autograd.grad(self.dloss_dout, self.out, grad_outputs=jv, retain_graph=True)
        return self._vjp(hjv)


def _check_scalar(loss: Any) -> torch.Tensor:
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        raise ValueError("criterion must return a scalar torch tensor.")
    return loss.reshape(())


def _select_params(model: nn.Module, params: Any) -> tuple[list[str], list[torch.Tensor]]:
    named = list(model.named_parameters())
    if params is None:
        chosen = [(n, p) for n, p in named if p.requires_grad]
    else:
        by_name = dict(named)
        by_id = {id(p): n for n, p in named}
        chosen = []
        for item in params:
            if isinstance(item, str):
                if item not in by_name:
                    raise ValueError(f"the model has no parameter named {item!r}.")
                chosen.append((item, by_name[item]))
            elif isinstance(item, torch.Tensor) and id(item) in by_id:
                chosen.append((by_id[id(item)], item))
            else:
                raise ValueError("params must hold parameter names or the model's parameters.")
    if not chosen:
        raise ValueError("no parameter selected: the model has no trainable parameter.")
    dtypes = {p.dtype for _, p in chosen}
    if len(dtypes) > 1:
        raise TypeError(f"the parameters must share one dtype, got {sorted(map(str, dtypes))}.")
    return [n for n, _ in chosen], [p for _, p in chosen]


def _is_batch(data: Any) -> bool:
    return (
        isinstance(data, (tuple, list))
        and len(data) == 2
        and isinstance(data[0], torch.Tensor)
        and isinstance(data[1], torch.Tensor)
    )


def curvature_operator(
    model: nn.Module,
    criterion: Callable[[torch.Tensor, Any], torch.Tensor],
    data: tuple[torch.Tensor, torch.Tensor] | Iterable[tuple[torch.Tensor, torch.Tensor]],
    *,
    kind: Kind = "hessian",
    params: Iterable[str | torch.Tensor] | None = None,
    train: bool = False,
) -> CurvatureOperator:
    """Hessian, Gauss-Newton or empirical Fisher of a model's loss, as an operator.

    The loss is ``criterion(model(inputs), targets)``; the matrix is taken
    with respect to the model's parameters (all trainable ones, or a chosen
    subset; the others stay fixed), on one batch or averaged over the batches
    of a data loader (weighted by batch size). It lives on the parameters'
    device and dtype; inputs and targets are moved there.

    Parameters
    ----------
    model : torch.nn.Module
        The model whose loss is differentiated (left unchanged).
    criterion : callable
        ``criterion(outputs, targets)`` returns the scalar mean loss of the
        batch, e.g. :class:`torch.nn.CrossEntropyLoss`.
    data : (inputs, targets) tuple of tensors, or an iterable of them
        One batch (its graph is built once and every product reuses it), or
        a :class:`~torch.utils.data.DataLoader` (each product makes a forward
        and backward pass per batch; the loader must iterate the same batches
        each time, so do not shuffle).
    kind : {"hessian", "ggn", "fisher"}, default="hessian"
        ``"hessian"``: the Hessian of the loss. ``"ggn"``: the generalised
        Gauss-Newton matrix ``J' H_out J`` (``J`` the Jacobian of the outputs,
        ``H_out`` the Hessian of the criterion in the outputs; positive
        semi-definite for convex criteria). ``"fisher"``: the empirical Fisher
        ``mean_i g_i g_i'`` of the per-sample loss gradients (the criterion
        must be a mean of per-sample losses).
    params : iterable of str or torch.nn.Parameter, or None, default=None
        The parameters to differentiate, by name or as the model's own
        tensors; None takes every parameter with ``requires_grad``.
    train : bool, default=False
        By default every forward pass runs in eval mode (BatchNorm uses its
        running statistics, dropout is off), so the loss is a deterministic
        function of the parameters. ``True`` runs in training mode (BatchNorm
        uses batch statistics; dropout is on, which makes products random):
        the passes run on copies of the buffers, so the running statistics
        are not updated. Either way each module's mode is restored
        afterwards, and the parameters are never modified.

    Returns
    -------
    CurvatureOperator
        The matrix as an operator on flattened parameters.

    See Also
    --------
    top_eigenvalues : Extreme eigenpairs of the operator.
    hutchinson_trace : Its trace.
    spectral_density : Its eigenvalue density.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> X = torch.tensor([[1.0, 0.0], [1.0, 2.0]])
    >>> model = nn.Linear(2, 1, bias=False)
    >>> op = curvature_operator(model, nn.MSELoss(), (X, torch.zeros(2, 1)))
    >>> op.dense()  # 2 X'X / n for the mean squared error
    tensor([[2., 2.],
            [2., 4.]])
    """
    if kind not in ("hessian", "ggn", "fisher"):
        raise ValueError(f"kind must be 'hessian', 'ggn' or 'fisher', got {kind!r}.")
    names, tensors = _select_params(model, params)
    device, dtype = tensors[0].device, tensors[0].dtype
    frozen = [p for p in tensors if not p.requires_grad]

    def batch_graph(inputs: torch.Tensor, targets: torch.Tensor) -> _Batch:
        inputs = inputs.to(device)
        if torch.is_floating_point(inputs):
            inputs = inputs.to(dtype)
        targets = targets.to(device)
        if torch.is_floating_point(targets):
            targets = targets.to(dtype)
        for p in frozen:  # a chosen frozen parameter is differentiated all the same
            p.requires_grad_(True)
        try:
            return _Batch(model, criterion, inputs, targets, tensors, kind, train)
        finally:
            for p in frozen:
                p.requires_grad_(False)

    if _is_batch(data):
        graph = batch_graph(*data)
        matvec = graph.matvec
    else:
        loader = data

        def matvec(vs: list[torch.Tensor]) -> list[torch.Tensor]:
            total = [torch.zeros_like(v) for v in vs]
            count = 0
            for batch in loader:
                inputs, targets = batch[0], batch[1]
                n = len(inputs)
                for acc, part in zip(total, batch_graph(inputs, targets).matvec(vs), strict=True):
                    acc.add_(part, alpha=n)
                count += n
            if count == 0:
                raise ValueError("data yielded no batch.")
            return [t / count for t in total]

    return CurvatureOperator(
        matvec, [p.shape for p in tensors], dtype, device, kind=kind, names=names
    )


# ----------------------------------------------------------------------- Lanczos
def _orthogonalise(w: torch.Tensor, basis: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Remove from ``w`` its components on the rows of ``basis`` (twice: CGS2)."""
    h = torch.mv(basis, w)
    w = w - h @ basis
    h2 = torch.mv(basis, w)
    return w - h2 @ basis, h + h2


def _wanted(theta: np.ndarray, which: str) -> np.ndarray:
    """Indices of the Ritz values, most wanted first."""
    if which == "LA":
        return np.argsort(-theta, kind="stable")
    if which == "SA":
        return np.argsort(theta, kind="stable")
    return np.argsort(-np.abs(theta), kind="stable")


def _random_vector(rng: np.random.RandomState, n: int, dtype, device) -> torch.Tensor:
    return torch.as_tensor(rng.standard_normal(n), dtype=dtype).to(device)


@dataclass
class _LanczosOutcome:
    values: np.ndarray
    vectors: torch.Tensor  # (k, n)
    residuals: np.ndarray
    converged: bool
    n_cycles: int


def _thick_restart_lanczos(
    matvec: Callable[[torch.Tensor], torch.Tensor],
    n: int,
    dtype: torch.dtype,
    device: torch.device,
    *,
    k: int,
    which: str,
    tol: float,
    basis_size: int,
    max_cycles: int,
    rng: np.random.RandomState,
) -> _LanczosOutcome:
    """Thick-restart Lanczos (Wu and Simon, 2000) with full reorthogonalisation.

    The projected matrix ``T = V' A V`` is kept whole (tridiagonal, with an
    arrowhead after a restart); every step checks the residual norms
    ``|beta_j u_j|`` of the wanted Ritz pairs, so no product is spent after
    convergence. A restart keeps the most wanted half of the Ritz vectors.
    """
    m = min(n, basis_size)
    eps = float(torch.finfo(dtype).eps)
    rtol = tol if tol > 0 else eps
    V = torch.zeros((m + 1, n), dtype=dtype, device=device)
    T = np.zeros((m + 1, m + 1))
    v0 = _random_vector(rng, n, dtype, device)
    V[0] = v0 / torch.linalg.vector_norm(v0)
    start = 0
    theta = U = None
    last = 0
    for cycle in range(1, max_cycles + 1):
        for j in range(start, m):
            w, h = _orthogonalise(matvec(V[j]), V[: j + 1])
            h = h.double().cpu().numpy()
            T[: j + 1, j] = h
            T[j, : j + 1] = h
            beta = float(torch.linalg.vector_norm(w))
            theta, U = np.linalg.eigh(T[: j + 1, : j + 1])
            last = j
            anorm = float(np.abs(theta).max())
            breakdown = beta <= 10 * eps * anorm
            if j + 1 >= k:
                order = _wanted(theta, which)[:k]
                res = 0.0 if breakdown else np.abs(beta * U[j, order])
                bound = rtol * np.maximum(np.abs(theta[order]), eps ** (2 / 3) * anorm)
                if np.all(res <= bound) or j + 1 == n:
                    return _finish(theta, U, V, j, order, res, True, cycle)
            if breakdown:
                # An invariant subspace: carry on from a fresh orthogonal direction.
                w, _ = _orthogonalise(_random_vector(rng, n, dtype, device), V[: j + 1])
                beta_next, beta = float(torch.linalg.vector_norm(w)), 0.0
                V[j + 1] = w / beta_next
            else:
                V[j + 1] = w / beta
            T[j + 1, j] = T[j, j + 1] = beta
        if cycle == max_cycles:
            break
        # Thick restart: keep the most wanted Ritz vectors and the residual direction.
        order = _wanted(theta, which)
        p = min(m - 1, max(k, k + (m - k) // 2))
        keep = order[:p]
        coupling = T[m, m - 1] * U[m - 1, keep]
        Y = torch.as_tensor(U[:, keep].T.copy(), dtype=dtype, device=device)
        V[:p] = Y @ V[:m]
        V[p] = V[m]
        T[:] = 0.0
        T[:p, :p] = np.diag(theta[keep])
        T[:p, p] = T[p, :p] = coupling
        start = p
    order = _wanted(theta, which)[:k]
    beta = T[last + 1, last]
    return _finish(theta, U, V, last, order, np.abs(beta * U[last, order]), False, max_cycles)


def _finish(theta, U, V, j, order, res, converged, cycles) -> _LanczosOutcome:
    coef = torch.as_tensor(U[:, order].T.copy(), dtype=V.dtype, device=V.device)
    vectors = coef @ V[: j + 1]
    vectors = vectors / torch.linalg.vector_norm(vectors, dim=1, keepdim=True)
    res = np.broadcast_to(np.asarray(res, dtype=float), (len(order),)).copy()
    return _LanczosOutcome(theta[order].copy(), vectors, res, converged, cycles)


def _lanczos_tridiagonal(
    matvec: Callable[[torch.Tensor], torch.Tensor], v0: torch.Tensor, steps: int
) -> np.ndarray:
    """``steps`` Lanczos steps (fewer on breakdown) from ``v0``: the projected matrix."""
    n = v0.numel()
    m = min(steps, n)
    eps = float(torch.finfo(v0.dtype).eps)
    V = torch.zeros((m, n), dtype=v0.dtype, device=v0.device)
    T = np.zeros((m, m))
    V[0] = v0 / torch.linalg.vector_norm(v0)
    for j in range(m):
        w, h = _orthogonalise(matvec(V[j]), V[: j + 1])
        h = h.double().cpu().numpy()
        T[: j + 1, j] = T[j, : j + 1] = h
        beta = float(torch.linalg.vector_norm(w))
        if j + 1 == m or beta <= 10 * eps * max(np.abs(T[: j + 1, : j + 1]).max(), 1e-300):
            return T[: j + 1, : j + 1]
        V[j + 1] = w / beta
        T[j + 1, j] = T[j, j + 1] = beta
    return T


# ------------------------------------------------------------------------ results
@dataclass
class EigenResult:
    """Extreme eigenpairs of a curvature operator.

    Attributes
    ----------
    eigenvalues : ndarray of shape (k,)
        Most wanted first (for ``which="LA"``: in decreasing order).
    eigenvectors : torch.Tensor of shape (n_params, k)
        Unit columns; ``operator.unflatten(eigenvectors[:, i])`` splits one
        like the parameters.
    residuals : ndarray of shape (k,)
        ``||A y - lambda y||`` of each pair (Lanczos' estimate).
    converged : bool
        Whether every wanted pair met the tolerance.
    n_products : int
        Operator products used.
    n_restarts : int
        Restarts of the Lanczos basis.
    time : float
        Wall-clock seconds.
    """

    eigenvalues: np.ndarray
    eigenvectors: torch.Tensor
    residuals: np.ndarray
    converged: bool
    n_products: int
    n_restarts: int
    time: float


@dataclass
class TraceResult:
    """A Hutchinson estimate of the trace.

    Attributes
    ----------
    trace : float
        Mean of the probes ``z' A z``.
    std_error : float
        Standard error of that mean (sample standard deviation over the
        square root of the number of probes).
    samples : ndarray
        The probes' values.
    n_products : int
        Operator products used (one per probe).
    time : float
        Wall-clock seconds.
    """

    trace: float
    std_error: float
    samples: np.ndarray
    n_products: int
    time: float


@dataclass
class SpectralDensity:
    """An eigenvalue density from stochastic Lanczos quadrature.

    Each run's Gauss quadrature puts weight ``weights[r, i]`` on the Ritz
    value ``nodes[r, i]`` (each row of weights sums to one; padding has
    weight zero); the density is their average.

    Attributes
    ----------
    nodes, weights : ndarray of shape (n_runs, n_steps)
        The quadrature nodes (Ritz values) and weights of each run.
    n_products : int
        Operator products used.
    time : float
        Wall-clock seconds.
    """

    nodes: np.ndarray
    weights: np.ndarray
    n_products: int
    time: float

    def default_sigma(self) -> float:
        """Kernel width: 1% of the spread of the nodes (1e-3 if they coincide).

        Returns
        -------
        float
            The width.
        """
        live = self.nodes[self.weights > 0]
        spread = float(live.max() - live.min()) if live.size else 0.0
        return 0.01 * spread if spread > 0 else 1e-3

    def evaluate(self, grid: Any, sigma: float | None = None) -> np.ndarray:
        """The density smoothed by a Gaussian kernel of width ``sigma``, on ``grid``.

        It integrates to one over the real line.

        Parameters
        ----------
        grid : array-like of float
            Eigenvalues at which to evaluate the density.
        sigma : float or None, default=None
            None uses :meth:`default_sigma`.

        Returns
        -------
        ndarray
            The density at each point, shaped like ``grid``.
        """
        sigma = self.default_sigma() if sigma is None else float(sigma)
        if not sigma > 0:
            raise ValueError(f"sigma must be positive, got {sigma!r}.")
        grid = np.asarray(grid, dtype=float)
        z = (grid[..., None] - self.nodes.reshape(-1)) / sigma
        kernel = np.exp(-0.5 * z**2) / (sigma * np.sqrt(2 * np.pi))
        return kernel @ self.weights.reshape(-1) / len(self.nodes)

    def plot(self, ax: Any = None, **kwargs: Any) -> Any:
        """Shortcut for :func:`plot_spectral_density`.

        Parameters
        ----------
        ax : matplotlib Axes or None, default=None
            None draws on a new figure.
        **kwargs
            Passed to :func:`plot_spectral_density`.

        Returns
        -------
        matplotlib Axes
            The axes drawn on.
        """
        return plot_spectral_density(self, ax=ax, **kwargs)


# ------------------------------------------------------------------------ solvers
def _check_operator(operator: Any) -> CurvatureOperator:
    if not isinstance(operator, CurvatureOperator):
        raise TypeError(
            "operator must be a CurvatureOperator (see curvature_operator), got "
            f"{type(operator).__name__}."
        )
    return operator


def top_eigenvalues(
    operator: CurvatureOperator,
    k: int = 1,
    *,
    which: Literal["LA", "LM", "SA"] = "LA",
    tol: float = 1e-5,
    basis_size: int | None = None,
    max_restarts: int = 100,
    random_state: Any = None,
    raise_on_failure: bool = False,
) -> EigenResult:
    """The ``k`` extreme eigenvalues of a curvature operator, with eigenvectors.

    Thick-restart Lanczos in torch (on the operator's device and dtype) with
    full reorthogonalisation. After every product it computes the Ritz
    pairs and stops as soon as each wanted one has a residual
    ``||A y - theta y|| <= tol * |theta|``; the eigenvalue error is then at
    most that residual and usually near its square over the spectral gap.
    When the basis is full it restarts, keeping the most wanted half of the
    Ritz vectors.

    Parameters
    ----------
    operator : CurvatureOperator
        The matrix, for instance from :func:`curvature_operator`.
    k : int, default=1
        Number of eigenpairs.
    which : {"LA", "LM", "SA"}, default="LA"
        ``"LA"``: largest algebraic (the sharpness, for ``k=1``), ``"LM"``:
        largest in magnitude (negative curvature included), ``"SA"``:
        smallest algebraic.
    tol : float, default=1e-5
        Relative residual tolerance (``0``: machine precision of the dtype).
    basis_size : int or None, default=None
        Lanczos vectors held at once (memory: that many parameter vectors).
        None uses ``max(20, 2 k + 1)``.
    max_restarts : int, default=100
        Restarts of the basis before giving up.
    random_state : int, RandomState instance or None, default=None
        Seeds the starting vector.
    raise_on_failure : bool, default=False
        Raise :class:`RuntimeError` instead of returning ``converged=False``.

    Returns
    -------
    EigenResult
        The eigenpairs, their residuals and the cost.

    See Also
    --------
    curvature_operator : Builds the operator of a model.

    Examples
    --------
    >>> import torch
    >>> A = torch.diag(torch.tensor([1.0, 5.0, -7.0, 2.0], dtype=torch.float64))
    >>> op = CurvatureOperator.from_loss(lambda p: 0.5 * p[0] @ A @ p[0],
    ...                                  [torch.zeros(4, dtype=torch.float64)])
    >>> top_eigenvalues(op, k=2).eigenvalues
    array([5., 2.])
    >>> top_eigenvalues(op, which="LM").eigenvalues
    array([-7.])
    """
    op = _check_operator(operator)
    if which not in _WHICH:
        raise ValueError(f"which must be one of {_WHICH}, got {which!r}.")
    if not (isinstance(k, (int, np.integer)) and 1 <= k <= op.n_params):
        raise ValueError(f"k must be an integer in [1, n_params={op.n_params}], got {k!r}.")
    if not tol >= 0:
        raise ValueError(f"tol must be non-negative, got {tol!r}.")
    if max_restarts < 0:
        raise ValueError(f"max_restarts must be non-negative, got {max_restarts!r}.")
    size = max(20, 2 * k + 1) if basis_size is None else int(basis_size)
    if size < min(op.n_params, k + 2):
        raise ValueError(f"basis_size must be at least k + 2 = {k + 2}, got {basis_size!r}.")
    rng = check_random_state(random_state)
    before = op.n_products
    _sync(op.device)
    start = time.perf_counter()
    outcome = _thick_restart_lanczos(
        op.matvec,
        op.n_params,
        op.dtype,
        op.device,
        k=k,
        which=which,
        tol=tol,
        basis_size=size,
        max_cycles=max_restarts + 1,
        rng=rng,
    )
    _sync(op.device)
    elapsed = time.perf_counter() - start
    if raise_on_failure and not outcome.converged:
        raise RuntimeError(
            f"Lanczos did not converge to tol={tol} within max_restarts={max_restarts}."
        )
    return EigenResult(
        eigenvalues=outcome.values,
        eigenvectors=outcome.vectors.T,
        residuals=outcome.residuals,
        converged=outcome.converged,
        n_products=op.n_products - before,
        n_restarts=outcome.n_cycles - 1,
        time=elapsed,
    )


def hutchinson_trace(
    operator: CurvatureOperator,
    *,
    max_samples: int = 100,
    min_samples: int = 10,
    tol: float = 1e-2,
    random_state: Any = None,
) -> TraceResult:
    """The trace by Hutchinson's estimator, with its standard error.

    Averages ``z' A z`` over Rademacher probes ``z`` (independent signs), an
    unbiased estimate of ``trace(A)`` with variance ``2 sum_{i != j} A_ij^2``
    per probe. Stops once the standard error is at most ``tol`` times the
    estimate's magnitude (after ``min_samples`` probes), or at ``max_samples``.

    Parameters
    ----------
    operator : CurvatureOperator
        The matrix, for instance from :func:`curvature_operator`.
    max_samples : int, default=100
        Most probes (operator products).
    min_samples : int, default=10
        At least 2, so that a standard error exists.
    tol : float, default=1e-2
        Relative standard error at which to stop; ``0`` runs ``max_samples``.
    random_state : int, RandomState instance or None, default=None
        Seeds the probes.

    Returns
    -------
    TraceResult
        The estimate, its standard error and the probes.

    Examples
    --------
    >>> import torch
    >>> A = torch.diag(torch.tensor([1.0, 5.0, -7.0, 2.0], dtype=torch.float64))
    >>> op = CurvatureOperator.from_loss(lambda p: 0.5 * p[0] @ A @ p[0],
    ...                                  [torch.zeros(4, dtype=torch.float64)])
    >>> res = hutchinson_trace(op, random_state=0)  # exact for a diagonal matrix
    >>> res.trace, res.std_error, res.n_products
    (1.0, 0.0, 10)
    """
    op = _check_operator(operator)
    if not 2 <= min_samples <= max_samples:
        raise ValueError(
            f"need 2 <= min_samples <= max_samples, got {min_samples!r} and {max_samples!r}."
        )
    if not tol >= 0:
        raise ValueError(f"tol must be non-negative, got {tol!r}.")
    rng = check_random_state(random_state)
    before = op.n_products
    _sync(op.device)
    start = time.perf_counter()
    samples: list[float] = []
    while len(samples) < max_samples:
        signs = rng.randint(0, 2, size=op.n_params) * 2.0 - 1.0
        z = torch.as_tensor(signs, dtype=op.dtype).to(op.device)
        samples.append(float(torch.dot(z, op.matvec(z))))
        if len(samples) >= min_samples:
            values = np.asarray(samples)
            se = float(values.std(ddof=1) / np.sqrt(len(values)))
            if se <= tol * abs(values.mean()):
                break
    _sync(op.device)
    values = np.asarray(samples)
    return TraceResult(
        trace=float(values.mean()),
        std_error=float(values.std(ddof=1) / np.sqrt(len(values))),
        samples=values,
        n_products=op.n_products - before,
        time=time.perf_counter() - start,
    )


def spectral_density(
    operator: CurvatureOperator,
    *,
    n_steps: int = 80,
    n_runs: int = 1,
    random_state: Any = None,
) -> SpectralDensity:
    """The eigenvalue density by stochastic Lanczos quadrature.

    From each of ``n_runs`` random unit starting vectors, ``n_steps``
    Lanczos steps (full reorthogonalisation) give a Gauss quadrature rule:
    nodes the Ritz values, weights the squared first components of the Ritz
    vectors. Averaged, they estimate the density ``(1/n) sum_i delta(x -
    lambda_i)`` exactly on polynomials of degree below ``2 n_steps``, up to
    the randomness of the starting vectors.

    Parameters
    ----------
    operator : CurvatureOperator
        The matrix, for instance from :func:`curvature_operator`.
    n_steps : int, default=80
        Lanczos steps (operator products) per run.
    n_runs : int, default=1
        Independent starting vectors averaged.
    random_state : int, RandomState instance or None, default=None
        Seeds the starting vectors.

    Returns
    -------
    SpectralDensity
        The quadrature nodes and weights of every run.

    Examples
    --------
    >>> import torch
    >>> A = torch.diag(torch.tensor([1.0, 1.0, 3.0, 3.0], dtype=torch.float64))
    >>> op = CurvatureOperator.from_loss(lambda p: 0.5 * p[0] @ A @ p[0],
    ...                                  [torch.zeros(4, dtype=torch.float64)])
    >>> density = spectral_density(op, n_steps=10, random_state=0)
    >>> density.nodes.round(6), float(density.weights.sum())
    (array([[1., 3.]]), 1.0)
    """
    op = _check_operator(operator)
    if n_steps < 1 or n_runs < 1:
        raise ValueError(f"n_steps and n_runs must be positive, got {n_steps!r}, {n_runs!r}.")
    rng = check_random_state(random_state)
    before = op.n_products
    _sync(op.device)
    start = time.perf_counter()
    runs = []
    for _ in range(n_runs):
        # Rademacher probes: the same variance-minimising choice as Hutchinson's.
        signs = rng.randint(0, 2, size=op.n_params) * 2.0 - 1.0
        v0 = torch.as_tensor(signs, dtype=op.dtype).to(op.device)
        theta, U = np.linalg.eigh(_lanczos_tridiagonal(op.matvec, v0, n_steps))
        runs.append((theta, U[0] ** 2))
    _sync(op.device)
    width = max(len(t) for t, _ in runs)
    nodes = np.zeros((n_runs, width))
    weights = np.zeros((n_runs, width))
    for r, (theta, w) in enumerate(runs):
        nodes[r, : len(theta)] = theta
        nodes[r, len(theta) :] = theta[-1]
        weights[r, : len(w)] = w / w.sum()
    return SpectralDensity(nodes, weights, op.n_products - before, time.perf_counter() - start)


def plot_spectral_density(
    density: SpectralDensity,
    ax: Any = None,
    *,
    grid: Any = None,
    sigma: float | None = None,
    log: bool = True,
    **kwargs: Any,
) -> Any:
    """Plot a smoothed :class:`SpectralDensity` (needs matplotlib).

    Parameters
    ----------
    density : SpectralDensity
        A result of :func:`spectral_density`.
    ax : matplotlib Axes or None, default=None
        None draws on a new figure.
    grid : array-like or None, default=None
        None: 1000 points spanning the nodes plus 5 kernel widths.
    sigma : float or None, default=None
        Kernel width (see :meth:`SpectralDensity.evaluate`).
    log : bool, default=True
        Logarithmic density axis: curvature spectra span many decades.
    **kwargs
        Passed to ``ax.plot``.

    Returns
    -------
    matplotlib Axes
        The axes drawn on.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots()
    sigma = density.default_sigma() if sigma is None else float(sigma)
    if grid is None:
        live = density.nodes[density.weights > 0]
        grid = np.linspace(live.min() - 5 * sigma, live.max() + 5 * sigma, 1000)
    values = density.evaluate(grid, sigma)
    if log:
        values = np.maximum(values, 1e-12)  # a log axis cannot show zeros
        ax.set_yscale("log")
    ax.plot(grid, values, **kwargs)
    ax.set(xlabel="eigenvalue", ylabel="density")
    return ax
