"""Shared by the up/status/down tests: a project, a fake clock, scripted engine snapshots."""

import pytest

from devenv import health
from devenv.up import UpOptions
from devenv.workspace import open_workspace
from tests.conftest import state

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


class Recorder:
    def __init__(self):
        self.steps = []
        self.updates = 0

    def step(self, text):
        self.steps.append(text)

    def progress(self, tracker, now):
        self.updates += 1

    def finish(self):
        pass


def healthy(*services):
    return [state(s, ports=PORTS[s]) for s in services]


ALL = ("mailhog", "postgres", "redis", "api")


@pytest.fixture
def ws(make_project):
    root = make_project(CONFIG, {"Dockerfile": "FROM node:20-alpine\n"})
    return open_workspace(root)


@pytest.fixture(autouse=True)
def api_answers(monkeypatch):
    calls = []

    def http_ok(url, timeout=2.0):
        calls.append(url)
        return True, "HTTP 200"

    monkeypatch.setattr(health, "http_ok", http_ok)
    return calls


def fast(**kwargs):
    now = [0.0]

    def sleep(seconds):
        now[0] += seconds

    return UpOptions(clock=lambda: now[0], sleep=sleep, **kwargs)
