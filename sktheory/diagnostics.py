"""Hessian diagnostics for sktheory's torch estimators and for any PyTorch model.

The central quantity is the *sharpness*: the largest eigenvalue of the Hessian
of a training loss with respect to all trainable parameters. It is computed
from Hessian-vector products (two backward passes each) by a torch-native
thick-restart Lanczos iteration, so the Hessian is never formed and models
with millions of parameters fit in memory.

Any PyTorch model
-----------------
:func:`curvature_operator` turns a model, a loss and a batch (or a data
loader) into a :class:`CurvatureOperator`: the Hessian, the generalised
Gauss-Newton matrix or the empirical Fisher over the model's parameters.
:func:`top_eigenvalues` (top-k eigenpairs), :func:`hutchinson_trace` (trace
with its standard error) and :func:`spectral_density` (stochastic Lanczos
quadrature; :func:`plot_spectral_density` draws it) work on it, and each
reports the number of operator products and the time used.

>>> import torch
>>> from torch import nn
>>> torch.manual_seed(0)  # doctest: +ELLIPSIS
<torch._C.Generator object at ...>
>>> model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
>>> X, y = torch.randn(32, 4), torch.randint(0, 3, (32,))
>>> H = curvature_operator(model, nn.CrossEntropyLoss(), (X, y))
>>> top = top_eigenvalues(H, k=2, random_state=0)
>>> top.eigenvalues.shape, top.eigenvectors.shape, top.converged
((2,), torch.Size([67, 2]), True)

The sharpness protocol
----------------------
An estimator supports :func:`sharpness` by defining a method::

    def _sharpness_problem(self, X, y) -> tuple[
        Callable[[Sequence[torch.Tensor]], torch.Tensor], list[torch.Tensor]
    ]: ...

which returns

* ``loss_fn``: a function mapping a list of parameter tensors (same shapes and
  order as below) to the scalar training loss on ``(X, y)``, computed exactly
  as the estimator's training objective (same loss, same scaling, same
  preprocessing of ``X`` and ``y``), differentiable twice by autograd;
* ``params``: the list of the fitted model's current trainable parameter
  tensors, as detached float64 copies (the caller may set ``requires_grad``).

:meth:`CurvatureOperator.from_loss` turns such a pair into an operator.

This module is shared machinery: it imports no paper module.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np
import torch
from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from sktheory._hessian import (
    CurvatureOperator,
    EigenResult,
    SpectralDensity,
    TraceResult,
    _flatten,
    _gradients,
    _hvp_from_grads,
    _leaves,
    _scalar_loss,
    _split,
    _thick_restart_lanczos,
    curvature_operator,
    hutchinson_trace,
    plot_spectral_density,
    spectral_density,
    top_eigenvalues,
)

__all__ = [
    "CurvatureOperator",
    "EigenResult",
    "SpectralDensity",
    "TraceResult",
    "curvature_operator",
    "dense_hessian",
    "hessian_vector_product",
    "hutchinson_trace",
    "plot_spectral_density",
    "sharpness",
    "spectral_density",
    "top_eigenvalues",
    "top_hessian_eigenvalue",
]

LossFn = Callable[[Sequence[torch.Tensor]], torch.Tensor]

# Below this many parameters ARPACK cannot run (it needs k < n) and a dense
# eigen-decomposition is cheaper anyway.
_DENSE_BELOW = 3


def hessian_vector_product(
    loss_fn: LossFn,
    params: Sequence[torch.Tensor],
    vectors: Sequence[torch.Tensor],
) -> list[torch.Tensor]:
    """Hessian of ``loss_fn`` at ``params`` applied to ``vectors``.

    Parameters
    ----------
    loss_fn : callable
        Maps a list of tensors shaped like ``params`` to a scalar tensor.
    params : sequence of torch.Tensor
        The point at which the Hessian is taken (not modified).
    vectors : sequence of torch.Tensor
        One tensor per parameter, same shapes: the direction.

    Returns
    -------
    list of torch.Tensor
        ``H v``, split like ``params``.

    See Also
    --------
    top_hessian_eigenvalue : The largest eigenvalue from these products.

    Examples
    --------
    >>> import torch
    >>> loss = lambda p: (p[0] ** 2).sum() * 1.5  # Hessian 3 I
    >>> hessian_vector_product(loss, [torch.zeros(2)], [torch.tensor([1.0, 2.0])])
    [tensor([3., 6.])]
    """
    leaves = _leaves(params)
    vectors = list(vectors)
    if len(vectors) != len(leaves):
        raise ValueError(f"vectors has {len(vectors)} tensors but params has {len(leaves)}.")
    for v, p in zip(vectors, leaves, strict=True):
        if v.shape != p.shape:
            raise ValueError(
                f"vector of shape {tuple(v.shape)} does not match parameter of "
                f"shape {tuple(p.shape)}."
            )
    vectors = [v.to(device=p.device, dtype=p.dtype) for v, p in zip(vectors, leaves, strict=True)]
    return _hvp_from_grads(_gradients(loss_fn, leaves), leaves, vectors)


def dense_hessian(loss_fn: LossFn, params: Sequence[torch.Tensor]) -> torch.Tensor:
    """The full Hessian of ``loss_fn`` at ``params``, for small models only.

    Uses :func:`torch.autograd.functional.hessian` on the flattened
    parameters; memory grows as the square of the number of parameters. It is
    the reference against which :func:`top_hessian_eigenvalue` is checked.

    Parameters
    ----------
    loss_fn : callable
        Maps a list of tensors shaped like ``params`` to a scalar tensor.
    params : sequence of torch.Tensor
        The point at which the Hessian is taken.

    Returns
    -------
    torch.Tensor of shape (n_params, n_params)
        Parameters flattened in order, each in row-major order.

    Examples
    --------
    >>> import torch
    >>> loss = lambda p: (p[0][0] * p[1][0]) ** 2
    >>> dense_hessian(loss, [torch.tensor([1.0]), torch.tensor([2.0])])
    tensor([[8., 8.],
            [8., 2.]])
    """
    leaves = _leaves(params)
    flat = _flatten(leaves).detach()

    def flat_loss(theta: torch.Tensor) -> torch.Tensor:
        return _scalar_loss(loss_fn, _split(theta, leaves))

    return torch.autograd.functional.hessian(flat_loss, flat).detach()


def top_hessian_eigenvalue(
    loss_fn: LossFn,
    params: Sequence[torch.Tensor],
    *,
    tol: float = 1e-10,
    max_iter: int | None = None,
    random_state: Any = None,
    return_vector: bool = False,
    method: Literal["lanczos", "arpack"] = "lanczos",
) -> float | tuple[float, list[torch.Tensor]]:
    """Largest (algebraic) eigenvalue of the Hessian of ``loss_fn`` at ``params``.

    Lanczos iteration on Hessian-vector products; the Hessian is never
    formed. The gradient graph is built once and reused by every product.
    By default the Lanczos is sktheory's own, in torch (see
    :func:`top_eigenvalues`): it checks the residual after every product and
    stops as soon as it is small enough. ``method="arpack"`` uses scipy's
    :func:`~scipy.sparse.linalg.eigsh` instead, which builds a 20-vector
    basis whatever ``tol``. Both stop when the Ritz pair's residual is at
    most ``tol`` times the eigenvalue.

    Parameters
    ----------
    loss_fn : callable
        Maps a list of tensors shaped like ``params`` to a scalar tensor.
    params : sequence of torch.Tensor
        The point at which the Hessian is taken (not modified).
    tol : float, default=1e-10
        Relative residual tolerance, ARPACK's stopping criterion (``0``
        means machine precision).
    max_iter : int or None, default=None
        Maximum number of Lanczos cycles (restarts; ARPACK's ``maxiter``;
        None uses ``10 * n_params``). Reaching it without convergence raises
        :class:`RuntimeError`.
    random_state : int, RandomState instance or None, default=None
        Seeds the Lanczos starting vector.
    return_vector : bool, default=False
        Also return the unit eigenvector, split like ``params``.
    method : {"lanczos", "arpack"}, default="lanczos"
        sktheory's Lanczos in torch, or scipy's ARPACK.

    Returns
    -------
    eigenvalue : float
        The largest eigenvalue.
    vector : list of torch.Tensor
        Only when ``return_vector`` is True.

    See Also
    --------
    sharpness : The same for a fitted estimator.
    top_eigenvalues : Top-k eigenpairs of any model, with products counted.
    dense_hessian : The dense reference for small models.

    Examples
    --------
    >>> import torch
    >>> A = torch.diag(torch.tensor([1.0, 5.0, -7.0, 2.0], dtype=torch.float64))
    >>> loss = lambda p: 0.5 * p[0] @ A @ p[0]
    >>> round(top_hessian_eigenvalue(loss, [torch.zeros(4, dtype=torch.float64)]), 8)
    5.0
    """
    if not tol >= 0:
        raise ValueError(f"tol must be non-negative, got {tol!r}.")
    if max_iter is not None and max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer or None, got {max_iter!r}.")
    if method not in ("lanczos", "arpack"):
        raise ValueError(f"method must be 'lanczos' or 'arpack', got {method!r}.")
    leaves = _leaves(params)
    n = sum(p.numel() for p in leaves)
    dtype = leaves[0].dtype
    if n < _DENSE_BELOW:
        values, vectors = torch.linalg.eigh(dense_hessian(loss_fn, leaves))
        value, vector = float(values[-1]), vectors[:, -1]
    elif method == "lanczos":
        op = CurvatureOperator.from_loss(loss_fn, leaves)
        outcome = _thick_restart_lanczos(
            op.matvec,
            n,
            op.dtype,
            op.device,
            k=1,
            which="LA",
            tol=tol,
            basis_size=20,
            max_cycles=10 * n if max_iter is None else max_iter,
            rng=check_random_state(random_state),
        )
        if not outcome.converged:
            raise RuntimeError(
                "Lanczos did not converge to the top Hessian eigenvalue within "
                f"max_iter={max_iter} restarts; raise max_iter or tol."
            )
        value, vector = float(outcome.values[0]), outcome.vectors[0]
    else:
        grads = _gradients(loss_fn, leaves)

        def matvec(v: np.ndarray) -> np.ndarray:
            v = torch.as_tensor(np.ravel(v), dtype=dtype).to(leaves[0].device)
            hv = _hvp_from_grads(grads, leaves, _split(v, leaves))
            return _flatten(hv).cpu().to(torch.float64).numpy()

        operator = LinearOperator((n, n), matvec=matvec, dtype=np.float64)
        v0 = check_random_state(random_state).standard_normal(n)
        if not np.any(matvec(v0)):
            # A random vector is in the kernel of a non-zero symmetric matrix
            # with probability 0: the Hessian is zero (ARPACK would fail on it).
            value, vector = 0.0, torch.as_tensor(v0 / np.linalg.norm(v0), dtype=dtype)
        else:
            try:
                values, vecs = eigsh(operator, k=1, which="LA", tol=tol, maxiter=max_iter, v0=v0)
            except ArpackNoConvergence as err:
                # With k=1 ARPACK either converges or has no estimate worth returning.
                raise RuntimeError(
                    "Lanczos did not converge to the top Hessian eigenvalue within "
                    f"max_iter={max_iter} restarts; raise max_iter or tol."
                ) from err
            value = float(values[-1])
            vector = torch.as_tensor(vecs[:, -1], dtype=dtype)
    if not return_vector:
        return value
    return value, [v.detach().clone() for v in _split(vector.to(leaves[0].device), leaves)]


def sharpness(estimator: Any, X: Any, y: Any, **kwargs: Any) -> float:
    """Sharpness of a fitted estimator's training loss on ``(X, y)``.

    The largest eigenvalue of the Hessian of the estimator's training
    objective, evaluated on ``(X, y)``, with respect to all its trainable
    parameters. The estimator must implement the ``_sharpness_problem``
    protocol described in this module's docstring.

    Parameters
    ----------
    estimator : fitted estimator
        One that defines ``_sharpness_problem(X, y)``.
    X : array-like of shape (n_samples, n_features)
        Inputs, as the estimator's ``fit`` takes them.
    y : array-like of shape (n_samples,)
        Targets.
    **kwargs
        Passed to :func:`top_hessian_eigenvalue` (``tol``, ``max_iter``,
        ``random_state``).

    Returns
    -------
    float
        The largest eigenvalue of the training objective's Hessian.

    See Also
    --------
    top_hessian_eigenvalue : The underlying Lanczos solver.

    Examples
    --------
    >>> from sktheory import DeepLinearRegressor
    >>> from sktheory.datasets import make_deep_linear_regression
    >>> X, y = make_deep_linear_regression(random_state=0)
    >>> model = DeepLinearRegressor(depth=3, learning_rate=0.05, random_state=0)
    >>> model = model.fit(X, y)
    >>> bool(abs(sharpness(model, X, y) - model.sharpness_) < 1e-6)
    True
    """
    problem = getattr(estimator, "_sharpness_problem", None)
    if problem is None:
        raise TypeError(
            f"{type(estimator).__name__} does not support sharpness: it has no "
            "_sharpness_problem(X, y) method."
        )
    check_is_fitted(estimator)
    loss_fn, params = problem(X, y)
    return top_hessian_eigenvalue(loss_fn, params, **kwargs)
