"""ocr_preprocess: one encoded JPEG/PNG → the detector's input, the decoded pixels and the scale back."""

from finfer.models.ocr_pipeline import decode_image, detector_input
from finfer.runtime.python_model import BatchedPythonModel


class TritonPythonModel(BatchedPythonModel):
    def setup(self, version_dir, parameters, args):
        pass

    def compute(self, inputs):
        image = decode_image(inputs["image"].reshape(-1)[0])
        pixels, scale = detector_input(image)
        return {"detector_input": pixels, "pixels": image, "scale": scale}
