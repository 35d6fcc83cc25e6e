"""The paper's residual RNN, its vector field and its signature (Taylor) expansion.

The RNN ``h_{j+1} = h_j + (1/T) sigma(W h_j + U x_{j+1} + b)`` is the Euler scheme
of the controlled differential equation ``dz = F(z) dXbar`` on the state
``z = (h, x)`` driven by the time-augmented path ``Xbar = (X, t)``:

* the column of ``F`` for data channel ``i`` is the constant ``(0, e_i)`` (the
  state copies the path),
* the column for time (the last channel) is ``(sigma(W h + U x + b), 0)``.

The solution at ``t = 1`` has the expansion ``z_1 = z_0 + sum_k <D^k(z_0), S^k(Xbar)>``
with ``D^k_{i_1...i_k} = F_{i_1} * (F_{i_2} * (... * F_{i_k}))`` and
``f * g = J_g f``; each ``*`` is a Jacobian-vector product, computed here by
nested forward-mode automatic differentiation (:func:`torch.func.jvp`), which
also lets training back-propagate through the penalty.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.func import jvp, vmap

__all__ = ["ResidualRNN", "iterated_derivatives", "random_rnn"]

_ACTIVATIONS = {"tanh": torch.tanh, "sigmoid": torch.sigmoid}


class ResidualRNN(torch.nn.Module):
    """Residual RNN with a learned initial state and a linear readout.

    Parameters
    ----------
    input_size : int
        Number of data channels ``d`` (time is not an input: it is the step).
    hidden_size : int
        Size ``e`` of the hidden state.
    output_size : int
        Size of the readout ``psi(h) = A h + c``.
    activation : {"tanh", "sigmoid"}
        The activation ``sigma`` (smooth, as the expansion needs).
    generator : torch.Generator or None
        Source of the initial weights, uniform on ``[-1/sqrt(e), 1/sqrt(e)]``
        as in :class:`torch.nn.RNNCell`. The initial state starts at zero.
    dtype : torch.dtype, default=torch.float64
        Floating type of every parameter.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        activation: str = "tanh",
        *,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float64,
    ) -> None:
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be 'tanh' or 'sigmoid', got {activation!r}.")
        self.input_size, self.hidden_size = input_size, hidden_size
        self.output_size, self.activation = output_size, activation
        bound = 1.0 / math.sqrt(hidden_size)

        def uniform(*shape: int) -> torch.nn.Parameter:
            draw = torch.rand(*shape, generator=generator, dtype=dtype)
            return torch.nn.Parameter((2 * draw - 1) * bound)

        self.weight_hh = uniform(hidden_size, hidden_size)
        self.weight_ih = uniform(hidden_size, input_size)
        self.bias = uniform(hidden_size)
        self.h0 = torch.nn.Parameter(torch.zeros(hidden_size, dtype=dtype))
        self.readout_weight = uniform(output_size, hidden_size)
        self.readout_bias = uniform(output_size)

    # ------------------------------------------------------------- the network
    def _sigma(self, pre: torch.Tensor) -> torch.Tensor:
        return _ACTIVATIONS[self.activation](pre)

    def readout(self, h: torch.Tensor) -> torch.Tensor:
        """The linear readout ``psi(h) = A h + c`` (on the last axis).

        Parameters
        ----------
        h : tensor of shape (..., hidden_size)
            Hidden states.

        Returns
        -------
        tensor of shape (..., output_size)
            The readout of each state.
        """
        return h @ self.readout_weight.T + self.readout_bias

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        """Final hidden state ``h_T`` of the residual RNN.

        Parameters
        ----------
        x : tensor of shape (n, T, d)
            Paths, one step per point.

        Returns
        -------
        tensor of shape (n, hidden_size)
            The hidden state after the last step.
        """
        n, length, _ = x.shape
        h = self.h0.expand(n, -1)
        # The input term of every step is computed at once: only h is sequential.
        drive = x @ self.weight_ih.T + self.bias
        for j in range(length):
            h = h + self._sigma(h @ self.weight_hh.T + drive[:, j]) / length
        return h

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Outputs ``psi(h_T)`` of the network.

        Parameters
        ----------
        x : tensor of shape (n, T, d)
            Paths, one step per point.

        Returns
        -------
        tensor of shape (n, output_size)
            The readout of the final hidden state.
        """
        return self.readout(self.hidden(x))

    # ------------------------------------------------------ the CDE and its flow
    def vector_field(self, z: torch.Tensor) -> torch.Tensor:
        """The CDE's vector field ``F(z)``.

        Parameters
        ----------
        z : tensor of shape (e + d,)
            The state ``(h, x)``.

        Returns
        -------
        tensor of shape (e + d, d + 1)
            One column per data channel, then one for time.
        """
        e, d = self.hidden_size, self.input_size
        h, x = z[:e], z[e:]
        drift = self._sigma(self.weight_hh @ h + self.weight_ih @ x + self.bias)
        top = torch.cat([drift.new_zeros(e, d), drift[:, None]], dim=1)
        bottom = torch.cat([torch.eye(d, dtype=z.dtype, device=z.device), z.new_zeros(d, 1)], 1)
        return torch.cat([top, bottom], dim=0)

    def initial_state(self) -> torch.Tensor:
        """``z_0 = (h_0, 0)``: paths are taken to start at the origin.

        Returns
        -------
        tensor of shape (e + d,)
            The initial hidden state followed by ``d`` zeros.
        """
        return torch.cat([self.h0, self.h0.new_zeros(self.input_size)])

    def solve_cde(self, x: torch.Tensor, substeps: int = 8) -> torch.Tensor:
        """Hidden state at ``t = 1`` of the continuous model, by classical RK4.

        ``dh/dt = sigma(W h + U x(t) + b)`` with ``x(t)`` the piecewise-linear
        path through the points of ``x`` at times ``linspace(0, 1, T)``. This is
        what the signature expansion approximates; the RNN is its Euler scheme.

        Parameters
        ----------
        x : tensor of shape (n, T, d)
            Paths, taken at times ``linspace(0, 1, T)``.
        substeps : int, default=8
            RK4 steps between consecutive points.

        Returns
        -------
        tensor of shape (n, hidden_size)
            The hidden state at ``t = 1``.
        """
        n, length, _ = x.shape
        h = self.h0.expand(n, -1)
        if length < 2:
            return h
        dt = 1.0 / ((length - 1) * substeps)
        drive = x @ self.weight_ih.T + self.bias  # linear in x, so interpolate it

        def rate(h: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
            return self._sigma(h @ self.weight_hh.T + u)

        for j in range(length - 1):
            start, slope = drive[:, j], (drive[:, j + 1] - drive[:, j]) / substeps
            for s in range(substeps):
                u0, u_half, u1 = (
                    start + s * slope,
                    start + (s + 0.5) * slope,
                    start + (s + 1) * slope,
                )
                k1 = rate(h, u0)
                k2 = rate(h + 0.5 * dt * k1, u_half)
                k3 = rate(h + 0.5 * dt * k2, u_half)
                k4 = rate(h + dt * k3, u1)
                h = h + dt * (k1 + 2 * k2 + 2 * k3 + k4) / 6
        return h

    # --------------------------------------------------- signature coefficients
    def iterated_derivatives(self, depth: int) -> list[torch.Tensor]:
        """The iterated derivatives ``[D^1, ..., D^N]`` of the vector field at ``z_0``.

        Parameters
        ----------
        depth : int
            Truncation level ``N >= 1``.

        Returns
        -------
        list of tensor
            ``D^k`` of shape (e + d, (d + 1)**k), as in :func:`iterated_derivatives`.
        """
        return iterated_derivatives(self.vector_field, self.initial_state(), depth)

    def signature_coefficients(self, depth: int) -> list[torch.Tensor]:
        """The readout's linear functional on the signature, level by level.

        Level 0 is ``psi(h_0)`` of shape (o, 1); level ``k`` is ``A D^k`` restricted
        to the hidden rows, of shape (o, (d + 1)**k).

        Parameters
        ----------
        depth : int
            Truncation level ``N >= 1``.

        Returns
        -------
        list of tensor
            Levels 0 to ``depth``.
        """
        e = self.hidden_size
        coefs = [self.readout(self.h0)[:, None]]
        for dk in self.iterated_derivatives(depth):
            coefs.append(self.readout_weight @ dk[:e])
        return coefs

    def rkhs_norms_squared(self, depth: int) -> torch.Tensor:
        """Squared RKHS norm of each output, shape (output_size,).

        For output ``o``: ``psi_o(h_0)^2 + sum_{k<=N} (||A_o D^k|| / k!)^2``, with
        ``A_o`` the readout's row ``o`` and ``D^k`` restricted to the hidden rows.

        Parameters
        ----------
        depth : int
            Truncation level ``N >= 1``.

        Returns
        -------
        tensor of shape (output_size,)
            The squared norm of each output.
        """
        coefs = self.signature_coefficients(depth)
        return sum((c**2).sum(dim=1) / math.factorial(k) ** 2 for k, c in enumerate(coefs))

    def rkhs_norm_squared(self, depth: int) -> torch.Tensor:
        """The paper's penalty: the squared RKHS norm averaged over outputs.

        As in the paper's reference code, a classifier has one output per class
        and the penalty is the mean of :meth:`rkhs_norms_squared` over them.
        The derivative terms use the readout's linear part ``A D^k`` (the
        derivative of ``psi(h) = A h + c``); the constant ``c`` enters at level 0.

        Parameters
        ----------
        depth : int
            Truncation level ``N >= 1``.

        Returns
        -------
        tensor of shape ()
            The mean squared norm.
        """
        return self.rkhs_norms_squared(depth).mean()

    def taylor_hidden(self, signatures: torch.Tensor, depth: int) -> torch.Tensor:
        """Truncated signature expansions of ``h_1`` at depths 1 to N.

        Parameters
        ----------
        signatures : tensor of shape (n, sum_k (d + 1)**k)
            Flat signatures (levels 1 to N) of the time-augmented paths.
        depth : int
            Truncation level ``N >= 1``.

        Returns
        -------
        tensor of shape (N, n, e)
            Entry ``k - 1`` is the expansion truncated at level ``k``.
        """
        e, p = self.hidden_size, self.input_size + 1
        h = self.h0.expand(signatures.shape[0], -1)
        out, start = [], 0
        for k, dk in enumerate(self.iterated_derivatives(depth), start=1):
            h = h + signatures[:, start : start + p**k] @ dk[:e].T
            start += p**k
            out.append(h)
        return torch.stack(out)


def iterated_derivatives(field, z0: torch.Tensor, depth: int) -> list[torch.Tensor]:
    """Iterated star products of a tensor field's columns at ``z0``.

    Parameters
    ----------
    field : callable
        ``field(z)`` returns ``F(z)`` of shape (m, p): ``p`` vector fields on R^m.
    z0 : tensor of shape (m,)
        The point at which the derivatives are taken.
    depth : int
        Number of levels ``N >= 1``.

    Returns
    -------
    list of tensors
        ``D^k`` of shape (m, p**k) for k = 1..depth, the word ``(i_1, ..., i_k)``
        flattened with ``i_1`` most significant (the signature's order), where
        ``D^k_{i_1...i_k} = F_{i_1} * (F_{i_2} * (... * F_{i_k}))`` and
        ``f * g = J_g f``.

    Examples
    --------
    A linear field ``F(z) = [A z]`` (one column) gives ``D^k = A^k z0``:

    >>> A = torch.tensor([[0.0, 1.0], [-1.0, 0.0]], dtype=torch.float64)
    >>> z0 = torch.tensor([1.0, 0.0], dtype=torch.float64)
    >>> field = lambda z: (A @ z)[:, None]
    >>> [d.ravel().tolist() for d in iterated_derivatives(field, z0, 2)]
    [[0.0, -1.0], [-1.0, 0.0]]
    """
    levels = [field]
    for _ in range(1, depth):
        levels.append(_star_left(field, levels[-1]))
    m = z0.shape[0]
    return [g(z0).reshape(m, -1) for g in levels]


def _star_left(field, inner):
    """``z -> [F_i * G](z) = J_G(z) F_i(z)`` for every column ``i`` of ``F``.

    The new letter ``i`` becomes the first of the word (axis 1).
    """

    def star(z: torch.Tensor) -> torch.Tensor:
        def along(direction: torch.Tensor) -> torch.Tensor:
            return jvp(inner, (z,), (direction,))[1]

        # Directions are the columns of F(z); their index becomes axis 1 (i_1).
        return vmap(along, in_dims=1, out_dims=1)(field(z))

    return star


def random_rnn(
    input_size: int,
    hidden_size: int,
    activation: str = "tanh",
    *,
    random_state: int | None = None,
) -> ResidualRNN:
    """A randomly initialised :class:`ResidualRNN` with a standard normal ``h_0``.

    The paper's Taylor-expansion experiment uses such RNNs (hidden size 2).

    Parameters
    ----------
    input_size : int
        Number of data channels ``d``.
    hidden_size : int
        Size ``e`` of the hidden state.
    activation : {"tanh", "sigmoid"}, default="tanh"
        The activation ``sigma``.
    random_state : int or None, default=None
        Seed of the weights and of ``h_0``.

    Returns
    -------
    ResidualRNN
        A network with one output, in float64.
    """
    rng = np.random.default_rng(random_state)
    gen = torch.Generator().manual_seed(int(rng.integers(2**31 - 1)))
    rnn = ResidualRNN(input_size, hidden_size, 1, activation, generator=gen)
    with torch.no_grad():
        rnn.h0.copy_(torch.randn(hidden_size, generator=gen, dtype=torch.float64))
    return rnn
