"""The front: HTTP (FastAPI) and gRPC (grpcio) adapters over one data plane (dataplane.py) in front of Triton."""
