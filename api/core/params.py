"""Integer parameters bounded to what PostgreSQL can hold.

Ids are ``bigint`` in the schema: an id or offset past 2**63 - 1 used to reach the database and come back
as ``NumericValueOutOfRange`` (a 500). Declared here once, they are refused as a 422 ``validation_error``
by FastAPI before any query runs, and the bounds show in the OpenAPI document.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

MAX_BIGINT = 2**63 - 1

#: A row id in the path (every table's id is a positive bigint).
IdPath = Annotated[int, Path(ge=1, le=MAX_BIGINT)]
#: An optional row id in the query string.
IdQuery = Annotated[int | None, Query(ge=1, le=MAX_BIGINT)]
#: Paging.
Offset = Annotated[int, Query(ge=0, le=MAX_BIGINT)]
Limit = Annotated[int | None, Query(ge=1, le=MAX_BIGINT)]
