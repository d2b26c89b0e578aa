"""Loans after origination: their statements in the shared store, each one scored by the behaviour pipeline, the
treatment the policy assigns, and the early-warning queue."""
