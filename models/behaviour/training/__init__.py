"""What only trains or evaluates the behaviour model (the served math is models/behaviour/features.py)."""
