"""Parameter records as JAX data: frozen dataclasses registered as pytrees.

Every family's parameters are a :func:`params_record`: a frozen dataclass whose fields
are arrays (the pytree leaves), so a record can be ``jax.vmap``-ped over (a batch of
records stacked with :func:`stack_params`) and differentiated (``jax.grad`` with respect
to the record). Shapes are static, values are traced.

Validation happens once, when a record is built from concrete values: the class's
``_validate`` method returns the checked, converted field values or raises a
``ValueError`` naming the field. When JAX rebuilds a record inside a transformation
(leaves are tracers or batched), validation is skipped: JAX's unflattening bypasses
``__init__``.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Sequence, TypeVar

import jax
import jax.numpy as jnp
import numpy as np

T = TypeVar("T")


def is_traced(*values: Any) -> bool:
    """True if any leaf of ``values`` is a JAX tracer (inside jit/vmap/grad)."""
    leaves = jax.tree_util.tree_leaves(values)
    return any(isinstance(leaf, jax.core.Tracer) for leaf in leaves)


def to_device(value: Any, dtype: Any = None) -> jax.Array:
    """``jnp.asarray(value, dtype)`` without an XLA program: jax 0.10's ``jnp.asarray``
    of a host array compiles a copy program per new shape and dtype, ``device_put``
    does not. Device arrays of the right dtype and traced values pass through."""
    if is_traced(value):
        return jnp.asarray(value, dtype)
    want = None if dtype is None else jax.dtypes.canonicalize_dtype(dtype)
    if isinstance(value, jax.Array) and (want is None or value.dtype == want):
        return value
    host = np.asarray(value, dtype=want)
    if want is None:
        host = host.astype(jax.dtypes.canonicalize_dtype(host.dtype), copy=False)
    return jax.device_put(host)


def params_record(cls: type[T]) -> type[T]:
    """Class decorator: make ``cls`` a frozen dataclass registered as a JAX pytree.

    Every dataclass field is a leaf. If the class defines ``_validate(self) -> dict``,
    it runs after ``__init__`` on concrete values and its returned field values replace
    the given ones. ``replace(**changes)`` builds a validated copy.
    """
    validate = getattr(cls, "_validate", None)

    def __post_init__(self) -> None:
        # Set before the dataclass decorator runs, so the generated __init__ calls it.
        if validate is None or is_traced(*(getattr(self, n) for n in names)):
            return
        for name, value in validate(self).items():
            object.__setattr__(self, name, value)

    cls.__post_init__ = __post_init__
    cls = dataclasses.dataclass(frozen=True, eq=False)(cls)
    names = tuple(f.name for f in dataclasses.fields(cls))

    def flatten(record):
        return tuple(getattr(record, n) for n in names), None

    def unflatten(_, leaves):
        record = object.__new__(cls)
        for name, leaf in zip(names, leaves):
            object.__setattr__(record, name, leaf)
        return record

    def replace(self, **changes):
        unknown = set(changes) - set(names)
        if unknown:
            raise ValueError(f"unknown field(s) {sorted(unknown)} for {cls.__name__}; "
                             f"fields are {list(names)}")
        return dataclasses.replace(self, **changes)

    def __repr__(self) -> str:
        def show(value):
            array = np.asarray(value) if not is_traced(value) else value
            if getattr(array, "ndim", 0) == 0 and not is_traced(value):
                return f"{float(array):.6g}"
            return f"array{tuple(array.shape)}"
        return f"{cls.__name__}(" + ", ".join(f"{n}={show(getattr(self, n))}" for n in names) + ")"

    cls.replace = replace
    cls.__repr__ = __repr__
    cls.field_names = names
    jax.tree_util.register_pytree_node(cls, flatten, unflatten)
    return cls


def unchecked(cls: type[T], **fields: Any) -> T:
    """Build a record from values already validated (or traced), skipping validation:
    for records derived from another validated record."""
    record = object.__new__(cls)
    for name in cls.field_names:
        object.__setattr__(record, name, fields[name])
    return record


def as_leaf(value: Any) -> jax.Array:
    """A validated NumPy value as a leaf in JAX's default float type (a float32 leaf is
    noted, so that a later :func:`bayesnn.core.enable_x64` can say so)."""
    dtype = jnp.result_type(float)
    if dtype == jnp.float32:
        from bayesnn.core.precision import note_float32_record
        note_float32_record()
    # converted by NumPy, then transferred by device_put: jnp.asarray compiles a small
    # XLA program per shape (a conversion, or a copy "stage"), device_put none
    return jax.device_put(np.asarray(value, dtype=dtype))


def stack_params(records: Sequence[T]) -> T:
    """Stack records of one type and shape into a batch (leading axis on every leaf),
    ready for ``jax.vmap``."""
    if len(records) == 0:
        raise ValueError("records must hold at least one parameter record")
    return jax.tree_util.tree_map(lambda *leaves: jnp.stack(leaves), *records)


def unstack_params(batch: T, index: int) -> T:
    """Record ``index`` of a stacked batch."""
    return jax.tree_util.tree_map(lambda leaf: leaf[index], batch)


def fields_of(record: Any) -> dict[str, Any]:
    """Field values of a record (dataclass or NamedTuple) as a dict."""
    if dataclasses.is_dataclass(record):
        return {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}
    return dict(record._asdict())


__all__ = ["to_device", "params_record", "stack_params", "unstack_params", "as_leaf", "is_traced",
           "fields_of", "unchecked"]
