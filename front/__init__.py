"""The front: HTTP (FastAPI) and gRPC (grpcio) adapters over one service layer in front of Triton."""
