"""``gridmap users …``: create and list the users who log in to the web pages (systems use API keys)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from api.auth.roles import ROLES
from api.core.config import get_settings
from api.core.db import make_engine, make_sessionmaker, session_scope
from api.core.errors import GridmapError

users_app = typer.Typer(help="Users of the web pages (login with a password).", no_args_is_help=True)
console = Console()


@users_app.command("create")
def users_create(
    username: Annotated[str, typer.Option(help="lower-case login name")],
    role: Annotated[str, typer.Option(help=f"one of {', '.join(ROLES)}")],
    person_id: Annotated[int | None, typer.Option(help="worker: the grid leader or worker it acts for")] = None,
    department: Annotated[str | None, typer.Option(help="a department user: the department it answers for")]
    = None,
    grid: Annotated[list[str] | None, typer.Option(help="extra grid codes served (repeatable)")] = None,
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True,
                                          envvar="GRIDMAP_NEW_PASSWORD", help="at least 10 characters")] = "",
) -> None:
    """Create a user; the password is asked for (or read from GRIDMAP_NEW_PASSWORD), never printed."""
    from pydantic import ValidationError

    from api.users.schemas import UserCreate
    from api.users.service import create_user

    try:
        body = UserCreate(username=username, password=password, role=role, person_id=person_id,
                          department_code=department, grid_codes=grid or [])
    except ValidationError as exc:
        console.print(f"[red]{exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}[/]")
        raise typer.Exit(1) from None
    from api.ops.backup import say_target

    say_target(get_settings().database_url)
    engine = make_engine(get_settings(), pool_size=1)
    try:
        with session_scope(make_sessionmaker(engine)) as s:
            user = create_user(s, body=body)
            console.print(f"user {user.id} {user.username} ({user.role}) created")
    except GridmapError as exc:
        console.print(f"[red]{exc.detail}[/]")
        raise typer.Exit(1) from None
    finally:
        engine.dispose()


@users_app.command("list")
def users_list() -> None:
    from api.users.service import list_users

    engine = make_engine(get_settings(), pool_size=1)
    with make_sessionmaker(engine)() as s:
        table = Table("id", "username", "role", "person", "department", "grids", "active", "last login")
        for u in list_users(s):
            table.add_row(str(u.id), u.username, u.role, str(u.person_id or ""), u.department_code or "",
                          ", ".join(u.grid_codes), "yes" if u.active else "no",
                          f"{u.last_login_at:%Y-%m-%d %H:%M}" if u.last_login_at else "")
    console.print(table)
    engine.dispose()
