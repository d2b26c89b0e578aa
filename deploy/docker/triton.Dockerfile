# NGC's Triton with finfer's model repository in its native flavours and what its Python models import.
# 24.10 is Triton 2.51, the same server the embedded flavour runs, with TensorRT 10.5: engines for
# it must be built by the TensorRT image of the same release (deploy/tensorrt).
# Build from the repository root after `make deploy-repository`:
#   docker build -f deploy/docker/triton.Dockerfile -t finfer-triton:0.1.0 .
FROM nvcr.io/nvidia/tritonserver:24.10-py3
COPY deploy/docker/requirements-triton.txt /tmp/requirements-triton.txt
RUN pip install --no-cache-dir -r /tmp/requirements-triton.txt && rm /tmp/requirements-triton.txt
# The Python models import finfer.models and finfer.runtime; loan_application also the pipeline
# declarations, their errors and protobuf messages, and finfer.application (tests/test_deploy_images.py
# checks that every module they import is copied). The image's Python is 3.10,
# which the tests check these compile under.
COPY finfer/__init__.py finfer/errors.py /opt/finfer/lib/finfer/
COPY finfer/pipelines /opt/finfer/lib/finfer/pipelines
COPY wire/__init__.py wire/finfer_pb2.py /opt/finfer/lib/finfer/wire/
COPY application /opt/finfer/lib/finfer/application
COPY loans/__init__.py loans/ids.py /opt/finfer/lib/finfer/loans/
# Of models/, only what is served: each family's top-level modules, never its training/ (build time only).
COPY models/__init__.py /opt/finfer/lib/finfer/models/
COPY models/risk/*.py /opt/finfer/lib/finfer/models/risk/
COPY models/fraud/*.py /opt/finfer/lib/finfer/models/fraud/
COPY models/intent/*.py /opt/finfer/lib/finfer/models/intent/
COPY models/ocr/*.py /opt/finfer/lib/finfer/models/ocr/
COPY models/damage/*.py /opt/finfer/lib/finfer/models/damage/
COPY models/images/*.py /opt/finfer/lib/finfer/models/images/
COPY models/behaviour/*.py /opt/finfer/lib/finfer/models/behaviour/
COPY models/documents/*.py /opt/finfer/lib/finfer/models/documents/
COPY runtime /opt/finfer/lib/finfer/runtime
# GPU nodes serve build/native (KIND_GPU, TensorRT accelerator); CPU nodes build/native-cpu.
COPY build/native /opt/finfer/repository/native
COPY build/native-cpu /opt/finfer/repository/native-cpu
RUN useradd --system --uid 10001 --no-create-home finfer
USER 10001
ENV PYTHONPATH=/opt/finfer/lib
EXPOSE 8000 8001 8002
HEALTHCHECK --interval=10s --timeout=3s --start-period=120s --retries=3 \
    CMD ["curl", "-fsS", "http://127.0.0.1:8000/v2/health/ready"]
ENTRYPOINT ["tritonserver"]
CMD ["--model-repository=/opt/finfer/repository/native", "--strict-readiness=true", \
     "--metrics-config=summary_latencies=true", \
     "--metrics-config=summary_quantiles=0.5:0.05,0.9:0.01,0.99:0.001", \
     "--rate-limit=execution_count", "--rate-limit-resource=heavy:2"]
