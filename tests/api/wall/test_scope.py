"""The wall shows every grid's cases, so grid workers are kept to their own grids' views (issue 6)."""

from __future__ import annotations

import pytest

from tests.api.test_read_api import assert_problem


@pytest.mark.parametrize("path", ["/api/v1/wall/summary", "/api/v1/wall/grids"])
def test_workers_cannot_read_the_wall(client, auth, path) -> None:
    assert_problem(client.get(path, headers=auth("worker")), 403, "forbidden")
    assert client.get(path, headers=auth("dispatcher")).status_code == 200
