"""An evaluation as an XLSX workbook (openpyxl): the ranking, the trend, and what they mean.

The first rows of the ranking sheet say what was asked (level, area, period, ranking, who and when) and a sheet
of its own holds the definitions (definitions.DEFINITIONS), so a workbook passed on still says what its figures
are. Rates are written as numbers with a percent format, so a spreadsheet can compute with them.
"""

from __future__ import annotations

import io
from datetime import datetime

from fastapi import Response
from openpyxl import Workbook
from openpyxl.styles import Font

from api.evaluation import definitions as d
from api.evaluation.schemas import Evaluation, Trend
from api.evaluation.service import TZ

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
COUNT_COLUMNS = ("cases", "responded", "followed_up", "satisfied", "basically_satisfied", "dissatisfied", "judged",
                 "solved", "due", "on_time", "resolved_once", "first_time", "reopened", "overdue")
RATE_COLUMNS = (*d.RATES, "score")
#: Column headings (zh-CN · English): one workbook for both languages.
HEADINGS = {
    "rank": "排名 Rank", "code": "编码 Code", "name": "名称 Name", "start": "起始 From",
    "cases": "参评件 Cases", "responded": "按时响应 Responded", "followed_up": "回访 Followed up",
    "satisfied": "满意 Satisfied", "basically_satisfied": "基本满意 Basically satisfied",
    "dissatisfied": "不满意 Dissatisfied", "judged": "有解决结论 Judged", "solved": "已解决 Solved",
    "due": "应办结 Due", "on_time": "按期办结 On time", "resolved_once": "办结过 Resolved",
    "first_time": "一次办结 First time", "reopened": "重办 Reopened", "overdue": "超期在办 Overdue",
    **{x.key: f"{x.name_zh} {x.name_en}" for x in d.DEFINITIONS},
}
LEVELS = {"street": "街道 Street", "community": "社区 Community", "grid": "网格 Grid",
          "department": "部门 Department", "worker": "网格员 Worker"}


def _row(unit: object, first: tuple[str, ...]) -> list[object]:
    return [getattr(unit, c) for c in (*first, *COUNT_COLUMNS, *RATE_COLUMNS)]


def _table(ws, first: tuple[str, ...], rows: list[list[object]]) -> None:
    ws.append([HEADINGS[c] for c in (*first, *COUNT_COLUMNS, *RATE_COLUMNS)])
    for cell in ws[ws.max_row]:
        cell.font = Font(bold=True)
    ws.freeze_panes = ws.cell(row=ws.max_row + 1, column=len(first) + 1)
    top = ws.max_row + 1
    for row in rows:
        ws.append(row)
    rate0 = len(first) + len(COUNT_COLUMNS) + 1
    for r in ws.iter_rows(min_row=top, min_col=rate0, max_col=rate0 + len(d.RATES) - 1):
        for cell in r:
            cell.number_format = "0.00%"


def workbook(ev: Evaluation, tr: Trend, *, who: str) -> Response:
    wb = Workbook()
    ws = wb.active
    ws.title = "考核评价 Evaluation"
    made = datetime.now(TZ)
    for row in (["考核评价 Evaluation · gridmap"],
                ["层级 Level", LEVELS[ev.level]],
                ["范围 Within", ev.within or "全部 all"],
                ["统计期 Period", ev.period.label, ev.period.start.isoformat(), ev.period.end.isoformat()],
                ["排名依据 Ranked by", HEADINGS[ev.sort]],
                ["导出 Exported", made.strftime("%Y-%m-%d %H:%M"), who],
                ["定义 Definitions", "见“定义”工作表 see the sheet 定义 Definitions"], []):
        ws.append(row)
    ws["A1"].font = Font(bold=True, size=14)
    _table(ws, ("rank", "code", "name"), [_row(u, ("rank", "code", "name")) for u in ev.items]
           + [[None, None, "合计 Total", *(getattr(ev.total, c) for c in (*COUNT_COLUMNS, *RATE_COLUMNS))]])
    ws.column_dimensions["C"].width = 24
    wt = wb.create_sheet(f"趋势 Trend ({tr.bucket})")
    _table(wt, ("start",), [_row(p, ("start",)) for p in tr.items])
    wd = wb.create_sheet("定义 Definitions")
    wd.append(["指标 Measure", "定义", "Definition"])
    for cell in wd[1]:
        cell.font = Font(bold=True)
    for x in d.DEFINITIONS:
        wd.append([f"{x.name_zh} {x.name_en}", x.formula_zh, x.formula_en])
    wd.append([])
    wd.append(["响应时限 Response limit (h)", d.RESPONSE_HOURS])
    wd.append(["基本满意权重 Basically satisfied weight", d.BASIC_WEIGHT])
    for k, w in d.SCORE_WEIGHTS.items():
        wd.append([f"得分权重 Score weight: {HEADINGS[k]}", w])
    for col, width in (("A", 36), ("B", 70), ("C", 90)):
        wd.column_dimensions[col].width = width
    out = io.BytesIO()
    wb.save(out)
    name = f"gridmap-evaluation-{ev.level}-{ev.period.label.replace('…', '_')}-{made:%Y%m%d-%H%M}.xlsx"
    return Response(out.getvalue(), media_type=XLSX, headers={
        "Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})
