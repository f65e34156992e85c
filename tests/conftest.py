"""Fixtures shared across test modules: the throwaway PostgreSQL cluster and PgBouncer."""

from collections.abc import Generator

import pytest

from tests.support import postgres
from tests.support.postgres import pg_bouncer, pg_cluster, pg_database

__all__ = ["pg_bouncer", "pg_cluster", "pg_database"]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport() -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    postgres.fold_skip(report)
    return report
