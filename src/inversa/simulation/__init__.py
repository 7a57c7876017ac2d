"""Simulation(person(s), protocol) -> Result; the solvers live here, not in the models."""

from inversa.simulation.result import CONTRACT_SERIES, LEVEL_SERIES, Result, StepSummary
from inversa.simulation.simulate import Simulation, SimulationError, simulate

__all__ = [
    "CONTRACT_SERIES",
    "LEVEL_SERIES",
    "Result",
    "Simulation",
    "SimulationError",
    "StepSummary",
    "simulate",
]
