"""The embedded Triton: where it is, how it is started, and how failures are reported."""

import subprocess

import pytest

from finfer.loadtest import stack
from finfer.settings import Settings
from finfer.triton_server import TritonError, TritonServer, locate, server_arguments, server_environment


def test_the_wheel_ships_server_backend_and_stub():
    install = locate()
    assert install.binary.name == "tritonserver" and install.binary.exists()
    assert install.stub.exists()


def test_every_port_is_bound_to_loopback(tmp_path):
    settings = Settings(model_repository=tmp_path)
    args = server_arguments(locate(), settings, tmp_path)
    addresses = [a for a in args if "-address=" in a]
    assert len(addresses) == 3
    assert all(a.endswith("=127.0.0.1") for a in addresses)


def test_environment_puts_this_interpreter_first():
    env = server_environment(locate())
    import sys
    from pathlib import Path

    assert env["PATH"].split(":")[0] == str(Path(sys.executable).parent)
    assert "nvidia_pytriton.libs" in env["LD_LIBRARY_PATH"]


def test_missing_repository_is_a_clear_error(tmp_path):
    server = TritonServer(Settings(model_repository=tmp_path / "nope", state_dir=tmp_path))
    with pytest.raises(TritonError, match="finfer build"):
        server.start()


def test_a_broken_model_shows_the_log_tail(tmp_path):
    repo = tmp_path / "repo"
    (repo / "broken" / "1").mkdir(parents=True)
    (repo / "broken" / "config.pbtxt").write_text('name: "broken"\nbackend: "python"\nmax_batch_size: 0\n')
    (repo / "broken" / "1" / "model.py").write_text("raise RuntimeError('this model cannot load')\n")
    settings = stack.bench_settings(repo, tmp_path)
    server = TritonServer(settings)
    server.start()
    try:
        with pytest.raises(TritonError, match="this model cannot load"):
            server.wait_ready(timeout=60)
    finally:
        server.stop()
    assert not server.running


def test_not_ready_in_time_names_the_limit_it_waited(tmp_path):
    """Without a timeout argument the settings' startup limit applies, and the error says which."""
    (tmp_path / "triton.log").write_text("still loading\n")
    settings = stack.bench_settings(tmp_path, tmp_path).model_copy(update={"triton_startup_timeout_s": 0.3})
    server = TritonServer(settings)
    # A process that answers no health check stands in for a Triton still loading its models.
    server._process = subprocess.Popen(["sleep", "30"], start_new_session=True)
    with pytest.raises(TritonError, match=r"not ready after 0\.3s:\nstill loading"):
        server.wait_ready()
    assert not server.running


def test_settings_reject_clashing_ports():
    with pytest.raises(ValueError, match="ports must be distinct"):
        Settings(http_port=9000, grpc_port=9000)


def test_settings_reject_unknown_environment_keys(monkeypatch):
    monkeypatch.setenv("FINFER_HTTP_PROT", "1")
    with pytest.raises(ValueError, match="FINFER_HTTP_PROT"):
        Settings()
