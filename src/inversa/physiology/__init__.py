"""Physiological mechanisms, one subpackage each; models hold state, parameters and derivatives.

Models never import the solver, the store, the web app or the CLI. Arrays are batch-first: shaped
[people, ...].
"""
