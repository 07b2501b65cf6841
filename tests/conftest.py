"""Fixtures shared by the test modules (the environment is set in the root conftest.py)."""

from __future__ import annotations

import pytest
from grading_cache import GradingCache


@pytest.fixture(scope="session")
def grading_cache(tmp_path_factory: pytest.TempPathFactory) -> GradingCache:
    """Each real assignment released and graded once per session (tests/grading_cache.py)."""
    return GradingCache(tmp_path_factory.mktemp("grading-cache"))
