"""The back office: decision records and the review queue (HTTP, gRPC and the reviewer's pages), and the
operators' API (drift, versions, splits). It uses the data plane (finfer.front) and is never used by it."""
