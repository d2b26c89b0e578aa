"""Hand-written Python-backend steps of the pipelines, one module a family; they run inside Triton."""
