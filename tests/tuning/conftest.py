"""Fixtures for tuning tests: a local Ray instance shared by a test module (starting Ray costs seconds here)."""

from __future__ import annotations

import pytest

from promptyard.runtime.ray_session import RayTarget, ray_session


@pytest.fixture(scope="module")
def local_ray(tmp_path_factory, ray_test_env):
    """A local Ray instance with the project settings, for one test module; trials import ``tests.tuning.*``."""
    with ray_test_env(tmp_path_factory.mktemp("ray")), ray_session(RayTarget(), num_cpus=2):
        yield
