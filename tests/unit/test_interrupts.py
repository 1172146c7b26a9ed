"""Ctrl-C while devenv starts a process: held back until the process is owned, then raised."""

import os
import signal

import pytest

from devenv import engine, interrupts
from devenv.errors import InterruptedByUser


@pytest.fixture
def handler():
    interrupts.reset()
    previous = signal.signal(signal.SIGINT, interrupts.handler)
    yield
    signal.signal(signal.SIGINT, previous)
    interrupts.reset()


def test_an_interrupt_inside_a_deferred_section_is_raised_on_the_way_out(handler):
    done = []
    with pytest.raises(InterruptedByUser), interrupts.deferred():
        os.kill(os.getpid(), signal.SIGINT)
        done.append("the section finished")
    assert done == ["the section finished"]


def test_only_the_first_interrupt_is_raised(handler):
    with pytest.raises(InterruptedByUser):
        os.kill(os.getpid(), signal.SIGINT)
    os.kill(os.getpid(), signal.SIGINT)  # during cleanup: ignored


def test_a_started_process_is_live_until_ended_and_end_all_ends_it():
    process = engine.Process(["sleep", "30"])
    assert process in engine._LIVE
    engine.end_all()
    assert process.poll() is not None and process not in engine._LIVE


def test_an_interrupt_while_a_process_starts_leaves_it_owned(handler, monkeypatch):
    """The interrupt lands just after the fork: the process is still registered and ended."""
    real = engine.subprocess.Popen

    def popen_then_ctrl_c(*args, **kwargs):
        child = real(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGINT)
        return child

    monkeypatch.setattr(engine.subprocess, "Popen", popen_then_ctrl_c)
    with pytest.raises(InterruptedByUser):
        engine.Process(["sleep", "30"])
    monkeypatch.undo()
    (orphan,) = engine._LIVE
    engine.end_all()
    assert orphan.poll() is not None
