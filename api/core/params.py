"""Integer parameters bounded to what PostgreSQL can hold.

Ids are ``bigint`` in the schema: an id or offset past 2**63 - 1 used to reach the database and come back
as ``NumericValueOutOfRange`` (a 500). Declared here once, they are refused as a 422 ``validation_error``
by FastAPI before any query runs, and the bounds show in the OpenAPI document.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import BeforeValidator, Strict

MAX_BIGINT = 2**63 - 1

#: A row id in the path (every table's id is a positive bigint).
IdPath = Annotated[int, Path(ge=1, le=MAX_BIGINT)]
#: An optional row id in the query string.
IdQuery = Annotated[int | None, Query(ge=1, le=MAX_BIGINT)]
#: Paging.
Offset = Annotated[int, Query(ge=0, le=MAX_BIGINT)]
Limit = Annotated[int | None, Query(ge=1, le=MAX_BIGINT)]



def has_bool(value: Any) -> bool:
    """Whether a bool hides anywhere in nested lists (GeoJSON coordinates, point batches) parsed from JSON.

    >>> has_bool([[116.4, 39.9], [True, 39.9]]), has_bool([[116.4, 39.9]])
    (True, False)
    """
    if isinstance(value, bool):
        return True
    return isinstance(value, list | tuple) and any(has_bool(v) for v in value)


def no_bool(value: Any) -> Any:
    """Refuse a JSON ``true``/``false`` where an integer is expected (pydantic's lax mode reads ``true`` as 1)."""
    if isinstance(value, bool):
        raise ValueError("an integer is required, not a boolean")
    return value


#: A number in a request body: a JSON number (an int is fine), never ``true``/``false`` nor a string. Pydantic's
#: lax mode read ``true`` as 1, and ``"lon": true`` was stored as longitude 1.0 (issue 17 #12). One definition
#: for every body model.
Number = Annotated[float, Strict()]
#: An integer in a request body, never a boolean; ``3.0`` is 3, as JSON Schema's ``integer`` says (strict mode
#: would refuse it). Bounds given with ``Field(ge=...)`` land in the JSON schema as ``ge``: api/core/openapi.py
#: writes them as ``minimum``/``maximum``.
Integer = Annotated[int, BeforeValidator(no_bool)]
