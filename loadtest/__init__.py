"""Load generation: Locust users, request generators, the benchmark runner and its report."""
