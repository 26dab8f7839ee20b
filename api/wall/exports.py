"""The wall's case lists as files: CSV (UTF-8 with a BOM, so that Excel reads the Chinese) and XLSX (openpyxl).

Each file says at its top what it holds: the list, when it was made, the time window and every filter, so that
a spreadsheet passed on by e-mail still says what it is. Headings and values (statuses, sources, "overdue
N days M hours") come from the screens' own string tables, web/i18n/<lang>.json, the one home of that wording.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import orjson
from fastapi import Response
from openpyxl import Workbook
from openpyxl.styles import Font
from sqlalchemy.orm import Session

from api.wall.filters import TZ, Filters
from api.wall.service import case_list

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_ROWS = 100_000
COLUMNS = ("id", "category", "category_name", "status", "grid_code", "grid_name", "source", "reported_at",
           "deadline", "overdue", "updated_at", "lon", "lat")


@cache
def strings(web_dir: Path, lang: str) -> dict[str, str]:
    return orjson.loads((web_dir / "i18n" / f"{lang}.json").read_bytes())


def _t(s: dict[str, str], key: str, **args: Any) -> str:
    out = s.get(key, key)
    for k, v in args.items():
        out = out.replace(f"{{{k}}}", str(v))
    return out


def overdue_text(s: dict[str, str], hours: float | None) -> str:
    """"超期 88 天 3 小时" / "88 d 3 h overdue" (the screens' ``dash.lateDH`` / ``dash.lateH``); '' when not late."""
    if hours is None or hours <= 0:
        return ""
    total = int(hours)
    days, rest = divmod(total, 24)
    return _t(s, "dash.lateDH", d=days, h=rest) if days else _t(s, "dash.lateH", h=rest)


def _when(iso: str | None) -> str:
    return datetime.fromisoformat(iso).astimezone(TZ).strftime("%Y-%m-%d %H:%M") if iso else ""


def header_rows(s: dict[str, str], f: Filters, kind: str) -> list[list[str]]:
    """What the file holds: list, moment, window and filters (each filter "all" when not set)."""
    def chosen(values: tuple[str, ...], prefix: str | None) -> str:
        if not values:
            return s["filter.all"]
        return ", ".join(_t(s, f"{prefix}.{v}") if prefix else v for v in values)

    return [
        [_t(s, f"export.title.{kind}")],
        [s["export.generated"], datetime.now(TZ).strftime("%Y-%m-%d %H:%M:%S %z")],
        [s["filter.window"], f"{_t(s, f'window.{f.window}')}: {f.since.astimezone(TZ):%Y-%m-%d %H:%M} – "
                             f"{min(f.until, datetime.now(TZ)).astimezone(TZ):%Y-%m-%d %H:%M}"],
        [s["filter.category"], chosen(f.categories, None)],
        [s["filter.status"], chosen(f.statuses, "case")],
        [s["filter.source"], chosen(f.sources, "source")],
    ]


def rows(s: dict[str, str], items: list[dict], lang: str, kind: str) -> list[list[Any]]:
    out = []
    for r in items:
        name = (r.get("category_name_en") or r.get("category_name")) if lang == "en" else r.get("category_name")
        grid = (r.get("grid_name_en") or r.get("grid_name")) if lang == "en" else r.get("grid_name")
        late = r.get("overdue_hours") if r["status"] not in ("closed", "rejected") else None
        if kind == "overdue":  # past its deadline by definition, even when by less than the 0.1 h rounding
            late = max(late or 0.0, 1e-9)
        out.append([r["id"], r["category"], name or "", _t(s, f"case.{r['status']}"), r.get("grid_code") or "",
                    grid or "", _t(s, f"source.{r['source']}"), _when(r["reported_at"]), _when(r.get("deadline")),
                    overdue_text(s, late), _when(r.get("updated_at")), r.get("lon"), r.get("lat")])
    return out


def export(session: Session, f: Filters, *, kind: str, fmt: str, lang: str, web_dir: Path) -> Response:
    s = strings(web_dir, lang)
    items = case_list(session, f, kind=kind, limit=MAX_ROWS)
    head = header_rows(s, f, kind)
    titles = [s[f"export.col.{c}"] for c in COLUMNS]
    body = rows(s, items, lang, kind)
    stamp = datetime.now(TZ).strftime("%Y%m%d-%H%M")
    name = f"gridmap-{kind}-{stamp}.{fmt}"
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\r\n")
        w.writerows([*head, [], titles, *body])
        content, media = ("\ufeff" + buf.getvalue()).encode("utf-8"), "text/csv; charset=utf-8"
    else:
        wb = Workbook()
        ws = wb.active
        ws.title = s[f"export.sheet.{kind}"][:31]
        for row in head:
            ws.append(row)
        ws["A1"].font = Font(bold=True, size=14)
        ws.append([])
        ws.append(titles)
        for cell in ws[ws.max_row]:
            cell.font = Font(bold=True)
        ws.freeze_panes = ws.cell(row=ws.max_row + 1, column=1)
        for row in body:
            ws.append(row)
        for col, width in zip("ABCDEFGHIJKLM", (10, 10, 22, 12, 16, 28, 14, 18, 18, 18, 18, 12, 12), strict=True):
            ws.column_dimensions[col].width = width
        out = io.BytesIO()
        wb.save(out)
        content, media = out.getvalue(), XLSX
    return Response(content, media_type=media, headers={
        "Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})
