# The finfer front (HTTP :8080, gRPC :8081) with only its run-time dependencies.
# Build from the repository root after `make deploy-repository`:
#   docker build -f deploy/docker/front.Dockerfile -t finfer-front:0.1.0 .
FROM python:3.11.7-slim-bookworm AS build
WORKDIR /src
COPY deploy/docker/requirements-front.txt .
RUN pip install --no-cache-dir --prefix=/install -r requirements-front.txt
COPY pyproject.toml README.md ./
COPY finfer finfer
COPY runtime runtime
COPY exporters exporters
COPY models models
COPY front front
COPY office office
COPY loans loans
COPY application application
COPY store store
COPY access access
COPY clients clients
COPY wire wire
COPY loadtest loadtest
# --no-deps: the build-time stack (xgboost, onnx, pytriton, locust) stays out of the image.
RUN pip install --no-cache-dir --no-deps --prefix=/install .

FROM python:3.11.7-slim-bookworm
COPY --from=build /install /usr/local
# The front reads each model's input schema from the repository it serves.
COPY build/native /opt/finfer/repository
RUN useradd --system --uid 10001 --no-create-home finfer
USER 10001
ENV PYTHONUNBUFFERED=1 \
    FINFER_MODEL_REPOSITORY=/opt/finfer/repository \
    FINFER_STATE_DIR=/tmp/finfer \
    FINFER_FRONT_HOST=0.0.0.0 \
    FINFER_HTTP_PORT=8080 \
    FINFER_GRPC_PORT=8081
EXPOSE 8080 8081
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request, sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status != 200)"]
ENTRYPOINT ["python", "-m", "finfer.server"]
