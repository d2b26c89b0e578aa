"""Exporters: turn each model family into artifacts in a Triton model repository."""
