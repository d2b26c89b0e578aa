"""Running Triton here: the embedded server from the pytriton wheel, and the shared ONNX runner."""
