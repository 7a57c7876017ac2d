"""Sample a cohort from its spec: unit hypercube (scrambled Sobol' or Latin hypercube, SciPy ``qmc``),
then a Gaussian copula for the correlations, then each variable's marginal by inverse CDF.

Reproducibility: the unit hypercube depends only on (method, seed, size, number of free variables).
Chunk k always holds rows [k * chunk_size, (k + 1) * chunk_size), so the chunk size and the order
in which chunks run never change the sample. Sobol' points are drawn from one sequence in order
(``fast_forward`` skips chunks that are already done), so streaming a cohort costs O(size) in time
and O(chunk) in memory. A Latin hypercube stratifies the whole cohort at once, so it is built in
one pass and kept in memory (size x free variables x 8 bytes: 160 MB for a million people and 20
variables); prefer Sobol' beyond that.
"""

from __future__ import annotations

import json
import os
import uuid
import warnings
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray
from scipy import stats
from scipy.stats import qmc

from inversa.cohort.spec import (
    Categorical,
    CohortSpec,
    Conditional,
    Fixed,
    LogNormal,
    Marginal,
    Normal,
    ParameterRange,
    TruncNormal,
    Uniform,
    spec_hash,
)

__all__ = [
    "CohortSampler",
    "SampleChunk",
    "SampleSource",
    "marginal_ppf",
    "write_sample",
]

_EPS = 1e-15


@dataclass(frozen=True)
class SampleChunk:
    """A block of consecutive people: global ids and one column per sampled variable."""

    index: int
    ids: NDArray[np.int64]
    columns: dict[str, NDArray[Any]]

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def take(self, rows: slice | NDArray[np.intp]) -> SampleChunk:
        """The same chunk restricted to some rows (used to isolate failing people)."""
        return SampleChunk(self.index, self.ids[rows], {k: v[rows] for k, v in self.columns.items()})


class SampleSource(Protocol):
    """Anything that hands out sample chunks in order: a cohort, a Saltelli design, ..."""

    @property
    def n_rows(self) -> int: ...

    @property
    def chunk_size(self) -> int: ...

    @property
    def variables(self) -> tuple[str, ...]: ...

    def iter_chunks(self, skip: Collection[int] = ()) -> Iterator[SampleChunk]: ...

    def describe(self) -> dict[str, Any]: ...


def n_chunks(n_rows: int, chunk_size: int) -> int:
    """Number of chunks that hold ``n_rows`` rows."""
    return -(-n_rows // chunk_size)


# --------------------------------------------------------------------------- marginals


def _truncnorm_ppf(u: NDArray[np.float64], mean: float, sd: float, low: float, high: float) -> Any:
    a, b = (low - mean) / sd, (high - mean) / sd
    return stats.truncnorm.ppf(u, a, b, loc=mean, scale=sd)


def _numeric_ppf(m: Marginal, u: NDArray[np.float64]) -> NDArray[np.float64]:
    if isinstance(m, Uniform):
        return m.low + u * (m.high - m.low)
    uc = np.clip(u, _EPS, 1.0 - _EPS)
    if isinstance(m, Normal):
        return np.asarray(stats.norm.ppf(uc, loc=m.mean, scale=m.sd), dtype=float)
    if isinstance(m, TruncNormal):
        return np.asarray(_truncnorm_ppf(uc, m.mean, m.sd, m.low, m.high), dtype=float)
    if isinstance(m, LogNormal):
        mu, sigma = m.log_params
        lo = -np.inf if not m.low else float(np.log(m.low))
        hi = np.inf if m.high is None else float(np.log(m.high))
        return np.asarray(np.exp(_truncnorm_ppf(uc, mu, sigma, lo, hi)), dtype=float)
    if isinstance(m, Fixed):
        return np.full(u.shape, float(m.value))
    if isinstance(m, ParameterRange):  # pragma: no cover - resolved by validate_spec
        raise ValueError("parameter_range must be resolved by validate_spec before sampling")
    raise TypeError(f"not a numeric distribution: {type(m).__name__}")


def marginal_ppf(m: Marginal, u: NDArray[np.float64], columns: Mapping[str, NDArray[Any]]) -> NDArray[Any]:
    """Inverse CDF of one marginal at ``u``; conditionals read their category from ``columns``."""
    if isinstance(m, Categorical):
        cum = np.cumsum(list(m.probabilities.values()))
        cum[-1] = 1.0
        idx = np.minimum(np.searchsorted(cum, u, side="right"), len(cum) - 1)
        return np.asarray(m.categories)[idx]
    if isinstance(m, Fixed) and isinstance(m.value, str):
        return np.full(u.shape, m.value)
    if isinstance(m, Conditional):
        by = columns[m.by]
        out = np.full(u.shape, np.nan)
        for category, case in m.cases.items():
            mask = by == category
            if np.any(mask):
                out[mask] = _numeric_ppf(case, u[mask])
        return out
    return _numeric_ppf(m, u)


# --------------------------------------------------------------------------- the sampler


def _qmc_engine(cls: Any, d: int, seed: int, **kwargs: Any) -> Any:
    """A SciPy QMC engine seeded through ``rng`` (SciPy >= 1.15), or ``seed`` on older SciPy.

    The two paths give different points, which is one reason manifests record SciPy's version.
    """
    try:
        return cls(d, rng=seed, **kwargs)
    except TypeError:  # pragma: no cover - SciPy < 1.15
        return cls(d, seed=seed, **kwargs)


class CohortSampler:
    """Turns a validated spec into sample chunks; the same spec and seed give the same people."""

    def __init__(self, spec: CohortSpec) -> None:
        self.spec = spec
        self._variables = tuple(spec.variables)
        self.free: tuple[str, ...] = tuple(
            v for v in self._variables if not isinstance(spec.marginal(v), Fixed)
        )
        self._lhs: NDArray[np.float64] | None = None
        self._corr_idx: NDArray[np.intp] | None = None
        self._chol: NDArray[np.float64] | None = None
        if spec.correlation is not None:
            self._corr_idx = np.array([self.free.index(v) for v in spec.correlation.variables])
            self._chol = np.linalg.cholesky(np.asarray(spec.correlation.matrix, dtype=float))

    # SampleSource
    @property
    def n_rows(self) -> int:
        return self.spec.sampling.size

    @property
    def chunk_size(self) -> int:
        return self.spec.sampling.chunk_size

    @property
    def variables(self) -> tuple[str, ...]:
        return self._variables

    @property
    def n_chunks(self) -> int:
        return n_chunks(self.n_rows, self.chunk_size)

    def describe(self) -> dict[str, Any]:
        """What the manifest records about this source."""
        s = self.spec.sampling
        return {
            "kind": "cohort",
            "method": s.method,
            "seed": s.seed,
            "size": s.size,
            "chunk_size": s.chunk_size,
            "free_variables": list(self.free),
        }

    def bounds(self, k: int) -> tuple[int, int]:
        """Rows [start, stop) of chunk k."""
        start = k * self.chunk_size
        return start, min(start + self.chunk_size, self.n_rows)

    # unit hypercube
    def _sobol(self) -> qmc.Sobol:
        return _qmc_engine(qmc.Sobol, len(self.free), self.spec.sampling.seed, scramble=True)

    @staticmethod
    def _draw(engine: qmc.Sobol, n: int) -> NDArray[np.float64]:
        with warnings.catch_warnings():  # balance needs powers of 2 only for the whole set
            warnings.simplefilter("ignore", UserWarning)
            return np.asarray(engine.random(n), dtype=float)

    def _lhs_matrix(self) -> NDArray[np.float64]:
        if self._lhs is None:
            engine = _qmc_engine(qmc.LatinHypercube, len(self.free), self.spec.sampling.seed)
            self._lhs = np.asarray(engine.random(self.n_rows), dtype=float)
        return self._lhs

    def unit(self, start: int, stop: int) -> NDArray[np.float64]:
        """Rows [start, stop) of the cohort's unit hypercube (random access)."""
        d = len(self.free)
        if d == 0:
            return np.empty((stop - start, 0))
        if self.spec.sampling.method == "lhs":
            return self._lhs_matrix()[start:stop]
        engine = self._sobol()
        if start:
            engine.fast_forward(start)
        return self._draw(engine, stop - start)

    def _iter_unit(self, skip: Collection[int]) -> Iterator[tuple[int, NDArray[np.float64]]]:
        d = len(self.free)
        engine = self._sobol() if d and self.spec.sampling.method == "sobol" else None
        for k in range(self.n_chunks):
            start, stop = self.bounds(k)
            if k in skip:
                if engine is not None:
                    engine.fast_forward(stop - start)
                continue
            if engine is not None:
                yield k, self._draw(engine, stop - start)
            else:
                yield k, self.unit(start, stop)

    # values
    def values(self, u: NDArray[np.float64], correlate: bool = True) -> dict[str, NDArray[Any]]:
        """Variable columns from unit-hypercube rows (one column per free variable, in order)."""
        u = np.array(u, dtype=float, copy=True)
        if correlate and self._chol is not None and self._corr_idx is not None and u.shape[0]:
            z = stats.norm.ppf(np.clip(u[:, self._corr_idx], _EPS, 1.0 - _EPS))
            u[:, self._corr_idx] = stats.norm.cdf(z @ self._chol.T)
        n = u.shape[0]
        cols: dict[str, NDArray[Any]] = {}
        pending: list[str] = []
        for name in self._variables:
            m = self.spec.marginal(name)
            if isinstance(m, Conditional):
                pending.append(name)
                continue
            uu = u[:, self.free.index(name)] if name in self.free else np.full(n, 0.5)
            cols[name] = marginal_ppf(m, uu, cols)
        for name in pending:
            cols[name] = marginal_ppf(self.spec.marginal(name), u[:, self.free.index(name)], cols)
        return {name: cols[name] for name in self._variables}

    def chunk(self, k: int) -> SampleChunk:
        """Chunk k (random access)."""
        if not 0 <= k < self.n_chunks:
            raise IndexError(f"chunk {k} out of range for {self.n_chunks} chunks")
        start, stop = self.bounds(k)
        return SampleChunk(k, np.arange(start, stop, dtype=np.int64), self.values(self.unit(start, stop)))

    def iter_chunks(self, skip: Collection[int] = ()) -> Iterator[SampleChunk]:
        """Every chunk not in ``skip``, in order, drawing the Sobol' sequence once."""
        for k, u in self._iter_unit(skip):
            start, stop = self.bounds(k)
            yield SampleChunk(k, np.arange(start, stop, dtype=np.int64), self.values(u))

    def sample(self) -> dict[str, NDArray[Any]]:
        """The whole cohort in memory (small cohorts and tests), with a ``person_id`` column."""
        u = self.unit(0, self.n_rows)
        return {"person_id": np.arange(self.n_rows, dtype=np.int64), **self.values(u)}


def write_sample(spec: CohortSpec, out_dir: str | Path) -> Path:
    """Stream the cohort to ``out_dir/sample.parquet`` (one row group per chunk) plus ``sample.json``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sampler = CohortSampler(spec)
    final = out / "sample.parquet"
    tmp = out / f".sample.{uuid.uuid4().hex}.tmp"
    writer: Any = None
    try:
        for chunk in sampler.iter_chunks():
            table = pa.table({"person_id": chunk.ids, **chunk.columns})
            if writer is None:
                writer = pq.ParquetWriter(str(tmp), table.schema)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()
    os.replace(tmp, final)
    meta = {
        "spec_hash": spec_hash(spec),
        "sampling": sampler.describe(),
        "spec": spec.model_dump(mode="json"),
    }
    (out / "sample.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
    return final
