r"""Number formats of neuromorphic chips: the precision record and exact integer rounding.

A :class:`Precision` says how a model runs on a chip (Davies et al. 2018, IEEE Micro
38(1), Loihi; Merolla et al. 2014 and Esser et al. 2016, TrueNorth):

* **weights** ``w = m 2^e``: a signed mantissa ``|m| <= 2^(weight_bits-1) - 1`` and one
  exponent ``e`` per weight matrix (``weight_exp``; ``None``: the smallest exponent at
  which the matrix's largest weight fits);
* **state** (membrane potential, traces): signed two's complement integers of
  ``state_bits`` bits, least significant bit ``2^state_exp`` (``None``: chosen from
  the model's declared range, see each family);
* **decay**: a multiplier ``(2^decay_bits - d) / 2^decay_bits`` applied to an integer
  state and shifted back, ``d = round(2^decay_bits lambda dt)`` (Loihi: 12 bits);
* **thresholds**: ``threshold_bits`` significant bits in state units;
* **rounding** of every quantisation, at build time (weights, biases, thresholds,
  tables) and at run time (decay products, shifted sums): ``"nearest"`` (half up),
  ``"stochastic"`` (unbiased, ``floor(x + U)``) or ``"truncate"`` (toward zero, as
  Loihi's decays);
* **saturate**: clip states to their range and count the clips; without saturation a
  state that leaves its range is an error (``ValueError`` naming ``state_bits``),
  never a silent wrap-around;
* **weight_table**: ``"uniform"`` (Loihi), ``"codebook4"`` (TrueNorth: each neuron
  holds 4 signed weights; its inputs are mapped to the nearest of 4 values found by
  1-D k-means) or ``"trinary"`` (Esser et al. 2016: weights in ``{-a, 0, +a}`` per
  neuron).

``exact_float=True`` (the :data:`FLOAT64` preset) runs the plain float64 model, bit for
bit. All run-time arithmetic of the integer path is int64 in JAX (no float emulation).
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["Precision", "make_precision", "check_precision", "LOIHI", "TRUENORTH",
           "TRUENORTH_TRINARY", "FLOAT64", "ROUNDING_MODES", "WEIGHT_TABLES",
           "round_shift", "shift_by", "quantize_float", "quantize_weights",
           "random_words", "saturate", "pow2"]

ROUNDING_MODES = ("nearest", "stochastic", "truncate")
WEIGHT_TABLES = ("uniform", "codebook4", "trinary")
MAX_EXP = 62  # |exponents| beyond this cannot be shifted within int64


class Precision(NamedTuple):
    """A chip's number formats (build with :func:`make_precision`, which validates).

    Fields:
        weight_bits: signed weight mantissa bits (1..64; 1 acts as 2: sign and zero).
        weight_exp: per-matrix weight exponent (power of two) or None (automatic).
        state_bits: state word length, bits (1..64).
        state_exp: exponent of the state's least significant bit, or None (automatic).
        decay_bits: bits of the decay multiplier (1..64).
        threshold_bits: significant bits of thresholds (1..64).
        rounding: "nearest", "stochastic" or "truncate" (toward zero).
        saturate: clip and count states that leave their range (else error).
        weight_table: "uniform", "codebook4" or "trinary".
        exact_float: run the plain float64 model (every other field is ignored).
    """

    weight_bits: int = 8
    weight_exp: int | None = None
    state_bits: int = 24
    state_exp: int | None = None
    decay_bits: int = 12
    threshold_bits: int = 17
    rounding: str = "truncate"
    saturate: bool = True
    weight_table: str = "uniform"
    exact_float: bool = False


def _bits(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer number of bits in 1..64, got {value!r}")
    if not 1 <= int(value) <= 64:
        raise ValueError(f"{name} must be in 1..64, got {value}")
    return int(value)


def _exp(name: str, value) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer exponent or None, got {value!r}")
    if not -MAX_EXP <= int(value) <= MAX_EXP:
        raise ValueError(f"{name} must lie in [-{MAX_EXP}, {MAX_EXP}] (int64 shifts), got {value}")
    return int(value)


def check_precision(p: Precision) -> Precision:
    """Validated copy of ``p``.

    Raises:
        ValueError: naming the field: bit widths outside 1..64, an exponent outside
            [-62, 62] (not shiftable within int64), an unknown rounding mode or weight
            table, a non-boolean ``saturate`` / ``exact_float``.
    """
    if not isinstance(p, Precision):
        raise ValueError(f"precision must be a Precision (see make_precision), got {type(p).__name__}")
    if p.rounding not in ROUNDING_MODES:
        raise ValueError(f"rounding must be one of {ROUNDING_MODES}, got {p.rounding!r}")
    if p.weight_table not in WEIGHT_TABLES:
        raise ValueError(f"weight_table must be one of {WEIGHT_TABLES}, got {p.weight_table!r}")
    for name in ("saturate", "exact_float"):
        if not isinstance(getattr(p, name), (bool, np.bool_)):
            raise ValueError(f"{name} must be True or False, got {getattr(p, name)!r}")
    return Precision(
        weight_bits=_bits("weight_bits", p.weight_bits), weight_exp=_exp("weight_exp", p.weight_exp),
        state_bits=_bits("state_bits", p.state_bits), state_exp=_exp("state_exp", p.state_exp),
        decay_bits=_bits("decay_bits", p.decay_bits),
        threshold_bits=_bits("threshold_bits", p.threshold_bits), rounding=p.rounding,
        saturate=bool(p.saturate), weight_table=p.weight_table, exact_float=bool(p.exact_float))


def make_precision(weight_bits: int = 8, *, weight_exp: int | None = None, state_bits: int = 24,
                   state_exp: int | None = None, decay_bits: int = 12, threshold_bits: int = 17,
                   rounding: str = "truncate", saturate: bool = True,
                   weight_table: str = "uniform", exact_float: bool = False) -> Precision:
    """Build a validated :class:`Precision` (defaults: Loihi's formats).

    Returns:
        :class:`Precision`.

    Raises:
        ValueError: naming the field (see :func:`check_precision`).
    """
    return check_precision(Precision(weight_bits, weight_exp, state_bits, state_exp, decay_bits,
                                     threshold_bits, rounding, saturate, weight_table, exact_float))


#: Loihi (Davies et al. 2018; Lava's bit-accurate models): 8-bit weight mantissas with a
#: per-matrix exponent, 24-bit state, 12-bit decays, 17-bit thresholds, rounding toward
#: zero, saturation.
LOIHI = make_precision(8, state_bits=24, decay_bits=12, threshold_bits=17, rounding="truncate")
#: TrueNorth's weight constraint (Merolla et al. 2014): 4 signed 9-bit weights per neuron
#: (1-D k-means codebook); other formats as :data:`LOIHI` (only the weights are TrueNorth's).
TRUENORTH = LOIHI._replace(weight_bits=9, weight_table="codebook4", rounding="nearest")
#: Esser et al. 2016: trinary weights {-a, 0, +a} per neuron.
TRUENORTH_TRINARY = TRUENORTH._replace(weight_table="trinary")
#: The plain float64 model (bit-identical to it).
FLOAT64 = make_precision(exact_float=True)


# ----------------------------------------------------------------------------- integers

def pow2(n) -> jax.Array:
    """Exact float64 ``2^n`` for integer ``n`` (``ldexp``; XLA's ``exp2`` is not exact)."""
    n = jnp.asarray(n)
    return jnp.ldexp(jnp.ones(n.shape, jnp.float64), n.astype(jnp.int32))


def random_words(key: jax.Array, shape) -> jax.Array:
    """Uniform int64 words in [0, 2^62) for stochastic rounding (two 32-bit draws)."""
    hi, lo = jax.random.bits(key, (2,) + tuple(shape), jnp.uint32)
    return (jnp.left_shift(hi.astype(jnp.int64) >> 2, 32) | lo.astype(jnp.int64))


def round_shift(x: jax.Array, s, mode: str, words: jax.Array | None = None) -> jax.Array:
    """``x / 2^s`` rounded to an integer by ``mode``, exactly, in int64.

    ``s`` (>= 0, may be traced) is clipped to [0, 62]. "nearest": ``(x + 2^(s-1)) >> s``
    (half up); "truncate": toward zero; "stochastic": ``(x + (u mod 2^s)) >> s`` with
    ``u`` from ``words`` (same shape as ``x``), unbiased.
    """
    x = jnp.asarray(x, jnp.int64)
    s = jnp.clip(jnp.asarray(s, jnp.int64), 0, MAX_EXP)
    one = jnp.ones((), jnp.int64)
    if mode == "nearest":
        half = jnp.where(s > 0, jnp.left_shift(one, jnp.maximum(s - 1, 0)), 0)
        return jnp.right_shift(x + half, s)
    if mode == "truncate":
        return jnp.where(x >= 0, jnp.right_shift(x, s), -jnp.right_shift(-x, s))
    if mode == "stochastic":
        if words is None:
            raise ValueError("stochastic rounding needs random words")
        mask = jnp.left_shift(one, s) - 1
        return jnp.right_shift(x + (words & mask), s)
    raise ValueError(f"rounding must be one of {ROUNDING_MODES}, got {mode!r}")


def shift_by(x: jax.Array, s, mode: str, words: jax.Array | None = None) -> jax.Array:
    """``x 2^s`` for a signed (possibly traced) ``s``: exact left shift for s >= 0,
    :func:`round_shift` by -s otherwise."""
    s = jnp.asarray(s, jnp.int64)
    left = jnp.left_shift(jnp.asarray(x, jnp.int64), jnp.clip(s, 0, MAX_EXP))
    return jnp.where(s >= 0, left, round_shift(x, -s, mode, words))


def quantize_float(x: jax.Array, exp, mode: str, key: jax.Array | None = None) -> jax.Array:
    """Integer ``round(x / 2^exp)`` by ``mode`` (build time: the value is programmed
    into the chip). Division by a power of two is exact in float64."""
    y = jnp.asarray(x, jnp.float64) * pow2(-jnp.asarray(exp, jnp.int64))
    if mode == "nearest":
        r = jnp.floor(y + 0.5)
    elif mode == "truncate":
        r = jnp.trunc(y)
    elif mode == "stochastic":
        r = jnp.floor(y + jax.random.uniform(key, jnp.shape(y), jnp.float64))
    else:
        raise ValueError(f"rounding must be one of {ROUNDING_MODES}, got {mode!r}")
    return r.astype(jnp.int64)


def quantize_weights(w: jax.Array, bits, exp, mode: str, key: jax.Array | None = None):
    """Mantissas and exponent of a weight matrix: ``w ~ m 2^e``.

    Args:
        w: float weights (any shape).
        bits: mantissa bits (may be traced); |m| <= max(2^(bits-1) - 1, 1).
        exp: the exponent, or None: the smallest e with max|w| / 2^e <= the largest
            mantissa (all-zero matrices get e = 0).
        mode: rounding mode.  key: JAX key for "stochastic".

    Returns:
        ``(m int64, e int64, n_clipped int64)``: mantissas are clipped to the range and
        the clips counted (non-zero only for an explicit exponent too small for w).
    """
    w = jnp.asarray(w, jnp.float64)
    top = jnp.maximum(jnp.left_shift(jnp.ones((), jnp.int64),
                                     jnp.asarray(bits, jnp.int64) - 1) - 1, 1)
    if exp is None:
        big = jnp.max(jnp.abs(w))
        e = jnp.where(big > 0, jnp.ceil(jnp.log2(jnp.where(big > 0, big, 1.0) / top)), 0.0)
        e = e.astype(jnp.int64)
        # log2 rounding can leave the top weight one step above the range: bump e.
        e = jnp.where(jnp.ceil(big * pow2(-e)) > top, e + 1, e)
        e = jnp.where((big > 0) & (jnp.ceil(big * pow2(1 - e)) <= top), e - 1, e)
    else:
        e = jnp.asarray(exp, jnp.int64)
    m = quantize_float(w, e, mode, key)
    clipped = jnp.sum((m > top) | (m < -top), dtype=jnp.int64)
    return jnp.clip(m, -top, top), e, clipped


def saturate(x: jax.Array, bits) -> tuple[jax.Array, jax.Array]:
    """Clip int64 ``x`` to ``+-(2^(bits-1) - 1)``; returns ``(clipped, n_out_of_range)``."""
    top = jnp.left_shift(jnp.ones((), jnp.int64), jnp.asarray(bits, jnp.int64) - 1) - 1
    out = jnp.sum((x > top) | (x < -top), dtype=jnp.int64)
    return jnp.clip(x, -top, top), out


# ----------------------------------------------------------------------------- tables

def codebook_weights(w: np.ndarray, table: str, axis: int = -1) -> np.ndarray:
    """Replace each neuron's incoming weights by a TrueNorth-style table (host side).

    ``w`` holds one neuron's inputs along ``axis``. "codebook4": the 4 centres of a 1-D
    k-means (Lloyd, 50 iterations from the quartile means; deterministic) and each
    weight replaced by its centre. "trinary": ``{-a, 0, +a}`` with the threshold
    ``0.7 mean|w|`` and ``a`` the mean |w| above it (ternary weight networks, Li, Zhang &
    Liu 2016, arXiv:1605.04711), which minimises the squared error for that threshold.
    """
    w = np.moveaxis(np.asarray(w, float), axis, -1)
    out = np.empty_like(w)
    for idx in np.ndindex(w.shape[:-1]):
        row = w[idx]
        if table == "trinary":
            cut = 0.7 * np.mean(np.abs(row))
            big = np.abs(row) > cut
            a = np.mean(np.abs(row[big])) if big.any() else 0.0
            out[idx] = np.where(big, np.sign(row) * a, 0.0)
        elif table == "codebook4":
            order = np.sort(row)
            centres = np.array([c.mean() for c in np.array_split(order, 4) if c.size])
            for _ in range(50):
                assign = np.argmin(np.abs(row[:, None] - centres[None, :]), axis=1)
                centres = np.array([row[assign == j].mean() if np.any(assign == j) else centres[j]
                                    for j in range(centres.size)])
            out[idx] = centres[np.argmin(np.abs(row[:, None] - centres[None, :]), axis=1)]
        else:
            out[idx] = row
    return np.moveaxis(out, -1, axis)
