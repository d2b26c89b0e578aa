"""The math of each model family as plain functions: called by exporters, Triton models and tests."""
