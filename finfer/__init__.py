"""finfer: inference serving for consumer- and auto-finance models on NVIDIA Triton."""

__version__ = "0.1.0"
