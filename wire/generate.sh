#!/usr/bin/env bash
# Regenerate the gRPC stubs after editing finfer.proto (the generated files are committed).
set -euo pipefail
cd "$(dirname "$0")"
python -m grpc_tools.protoc -I. --python_out=. --pyi_out=. --grpc_python_out=. finfer.proto
# Generated code imports `finfer_pb2` as a top-level module; inside the package it is relative.
sed -i 's/^import finfer_pb2 as finfer__pb2/from finfer.wire import finfer_pb2 as finfer__pb2/' finfer_pb2_grpc.py
