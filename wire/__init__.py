"""The wire contract of the front's gRPC API: `finfer.proto` and the stubs generated from it.

It sits below everything that speaks the protocol (the pipeline declarations, the front's servicers and
the SDK) and imports none of them. Regenerate the stubs with `make proto` after editing the proto.
"""
