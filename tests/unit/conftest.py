"""Shared by the up/status/down tests: a project, a fake clock, a fake prober, snapshots."""

import pytest

from devenv.readiness import Report
from devenv.up import UpOptions
from devenv.workspace import open_workspace
from tests.conftest import FakeProber, state

CONFIG = """
name: proj
api:
  port: 0
services:
  postgres: {ports: {5432: 0}}
  redis: {ports: {6379: 0}}
  mailhog: {ports: {1025: 0, 8025: 0}}
"""
PORTS = {"api": {3000: 41000}, "postgres": {5432: 41001}, "redis": {6379: 41002}, "mailhog": {1025: 41003, 8025: 41004}}
ALL = ("mailhog", "postgres", "redis", "api")


class Recorder:
    def __init__(self):
        self.steps = []
        self.updates = 0
        self.logs = {}

    def step(self, text):
        self.steps.append(text)

    def progress(self, tracker, now):
        self.updates += 1
        for item in tracker.progress.values():
            if item.logs:
                self.logs[item.service] = list(item.logs)

    def finish(self):
        pass


def healthy(*services):
    return [state(s, ports=PORTS[s]) for s in services]


@pytest.fixture
def ws(make_project):
    root = make_project(CONFIG, {"Dockerfile": "FROM node:20-alpine\n"})
    return open_workspace(root)


def answering(rules, states, *, refuse=()):
    """The once-over probe `status` and the no-op `up` run: every probed, running service answers."""
    return {
        s.service: Report(s.id, s.service not in refuse, "answering" if s.service not in refuse else "refused")
        for s in states
        if s.state == "running" and rules.get(s.service) and rules[s.service].probes
    }


def fast(prober=None, check=answering, **kwargs):
    now = [0.0]

    def sleep(seconds):
        now[0] += seconds

    return UpOptions(
        clock=lambda: now[0],
        sleep=sleep,
        wall=lambda: 1000.0 + now[0],
        prober=prober or FakeProber(),
        check=check,
        hooks=kwargs.pop("hooks", ()),
        **kwargs,
    )
