"""`python -m finfer.front`: the front alone, against a Triton already running (FINFER_* settings)."""

from finfer.front.server import run
from finfer.settings import Settings

if __name__ == "__main__":
    run(Settings())
