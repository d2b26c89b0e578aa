"""Code that runs inside Triton: the Python-backend adapter, the shared ONNX runner, the pipelines' steps."""
