"""Virtual cohorts: sample people and uncertain parameters from a spec, run them through the engine
in chunks (serially or on Dask), stream results to Parquet, and analyse safety margins and sensitivity.

Model-agnostic: the evaluator maps sampled rows to Person fields and parameter overrides by name, so
new Person fields and parameter sets are picked up without changes here.
"""

from inversa.cohort.analysis import (
    DEFAULT_LIMITS,
    Limit,
    MarginReport,
    SaltelliSource,
    largest_safe_angles,
    safety_margins,
    sobol_indices,
    wilson_interval,
)
from inversa.cohort.executor import DaskExecutor, Executor, SerialExecutor, make_executor
from inversa.cohort.run import (
    INVALID_PERSON,
    NON_FINITE_OUTPUT,
    OK,
    SIMULATION_FAILED,
    ChunkOutput,
    EvalContext,
    Evaluator,
    RunError,
    RunSummary,
    Scenario,
    engine_evaluator,
    make_scenarios,
    open_results,
    read_results,
    run_cohort,
    run_source,
)
from inversa.cohort.sampling import CohortSampler, SampleChunk, write_sample
from inversa.cohort.spec import (
    Catalog,
    CohortSpec,
    SpecError,
    default_spec,
    engine_catalog,
    load_spec,
    validate_spec,
)

__all__ = [
    "DEFAULT_LIMITS",
    "INVALID_PERSON",
    "NON_FINITE_OUTPUT",
    "OK",
    "SIMULATION_FAILED",
    "Catalog",
    "ChunkOutput",
    "CohortSampler",
    "CohortSpec",
    "DaskExecutor",
    "EvalContext",
    "Evaluator",
    "Executor",
    "Limit",
    "MarginReport",
    "RunError",
    "RunSummary",
    "SaltelliSource",
    "SampleChunk",
    "Scenario",
    "SerialExecutor",
    "SpecError",
    "default_spec",
    "engine_catalog",
    "engine_evaluator",
    "largest_safe_angles",
    "load_spec",
    "make_executor",
    "make_scenarios",
    "open_results",
    "read_results",
    "run_cohort",
    "run_source",
    "safety_margins",
    "sobol_indices",
    "validate_spec",
    "wilson_interval",
    "write_sample",
]
