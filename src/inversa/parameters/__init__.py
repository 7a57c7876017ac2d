"""Parameter sets stored as data files, every value with its unit and its source."""

from inversa.parameters.sets import (
    Parameter,
    ParameterError,
    ParameterSet,
    available_parameter_sets,
    load_parameter_set,
)

__all__ = [
    "Parameter",
    "ParameterError",
    "ParameterSet",
    "available_parameter_sets",
    "load_parameter_set",
]
