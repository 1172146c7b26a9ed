import os
import socket

from devenv.hostports import port_is_free, process_holding


def test_a_listening_port_is_busy_and_its_process_is_named():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        assert not port_is_free("127.0.0.1", port)
        assert process_holding(port).endswith(f"(pid {os.getpid()})")
    assert port_is_free("127.0.0.1", port)
    assert process_holding(port) is None
