"""OGC API Features Part 3: CQL2 (text and JSON) parsed by pygeofilter, translated to a SQL fragment with bound
parameters.

Nothing from the filter is ever pasted into the SQL: property names are looked up among the collection's
queryables (their SQL is ours), operators map to a fixed table, and every literal becomes a ``:_fN`` parameter.
An unknown property, an operator we do not serve, or a literal of the wrong type is a 400 that says which.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from typing import Any

import orjson
from pygeofilter import ast, values
from pygeofilter.parsers.cql2_json import parse as parse_json
from pygeofilter.parsers.cql2_text import parse as parse_text

from api.auth.service import Principal
from api.core.errors import InvalidQuery
from api.ogc import crs as crsmod
from api.ogc.collections import Collection

TEXT = "cql2-text"
JSON = "cql2-json"

_COMPARE: dict[type, str] = {
    ast.Equal: "=", ast.NotEqual: "<>", ast.LessThan: "<", ast.LessEqual: "<=", ast.GreaterThan: ">",
    ast.GreaterEqual: ">=",
}
_SPATIAL = {
    "INTERSECTS": "ST_Intersects", "DISJOINT": "ST_Disjoint", "CONTAINS": "ST_Contains", "WITHIN": "ST_Within",
    "TOUCHES": "ST_Touches", "CROSSES": "ST_Crosses", "OVERLAPS": "ST_Overlaps", "EQUALS": "ST_Equals",
}
_GEOMETRY_PROPS = ("geometry", "geom", "the_geom", "boundary", "footprint", "location")


class BadFilter(InvalidQuery):
    code, title = "invalid_filter", "Invalid CQL2 filter"


def language(raw: str, lang: str | None) -> str:
    """``filter-lang`` as given, or guessed from the filter (a JSON object or text)."""
    return lang or (JSON if raw.lstrip().startswith("{") else TEXT)


def parse(raw: str, lang: str) -> ast.Node:
    """The filter's syntax tree, or a 400 ``invalid_filter`` naming what the parser refused."""
    if lang not in (TEXT, JSON):
        raise BadFilter(f"filter-lang must be {TEXT} or {JSON}", field="filter-lang")
    try:
        return parse_json(orjson.loads(raw)) if lang == JSON else parse_text(raw)
    except Exception as exc:  # the parsers raise lark, orjson and value errors alike
        message = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise BadFilter(f"the {lang} filter does not parse: {message}", field="filter") from None


class Translator:
    """Turns one syntax tree into SQL over a collection's columns; ``params`` collects the bound values."""

    def __init__(self, coll: Collection, principal: Principal | None, filter_crs: crsmod.Crs, lang: str) -> None:
        self.lang = lang
        self.coll = coll
        self.principal = principal
        self.filter_crs = filter_crs
        self.params: dict[str, Any] = {}

    def bind(self, value: Any) -> str:
        name = f"_f{len(self.params)}"
        self.params[name] = value
        return f":{name}"

    def sql(self, node: Any) -> str:
        handler: Callable[[Any], str] | None = None
        for kind, fn in self._handlers():
            if isinstance(node, kind):
                handler = fn
                break
        if handler is None:
            raise BadFilter(f"{type(node).__name__} is not supported in filters here", field="filter")
        return handler(node)

    def _handlers(self) -> list[tuple[type | tuple[type, ...], Callable[[Any], str]]]:
        return [
            (ast.Not, lambda n: f"(NOT {self.sql(n.sub_node)})"),
            (ast.And, lambda n: f"({self.sql(n.lhs)} AND {self.sql(n.rhs)})"),
            (ast.Or, lambda n: f"({self.sql(n.lhs)} OR {self.sql(n.rhs)})"),
            (tuple(_COMPARE), self._compare),
            (ast.Between, self._between),
            (ast.Like, self._like),
            (ast.In, self._in),
            (ast.IsNull, lambda n: f"({self._attr(n.lhs)} IS {'NOT ' if n.not_ else ''}NULL)"),
            (ast.SpatialComparisonPredicate, self._spatial),
            (ast.Attribute, self._attr),
        ]

    # --- operands ------------------------------------------------------------------------------------------
    def _attr(self, node: Any) -> str:
        if not isinstance(node, ast.Attribute):
            raise BadFilter("expected a property name here", field="filter")
        prop = self.coll.prop(node.name, self.principal)
        if prop is None:
            raise BadFilter(f"{node.name!r} is not a queryable of {self.coll.id}; see its /queryables",
                            field="filter")
        return prop.sql

    def _type_of(self, node: Any) -> tuple[str, str | None] | None:
        if isinstance(node, ast.Attribute):
            prop = self.coll.prop(node.name, self.principal)
            return (prop.type, prop.format) if prop is not None else None
        return None

    def _literal(self, node: Any, want: tuple[str, str | None] | None) -> str:
        if isinstance(node, ast.Attribute):
            return self._attr(node)
        kind, fmt = want or (None, None)
        ok = {
            "string": isinstance(node, str) or (fmt == "date-time" and isinstance(node, dt.date)),
            "integer": isinstance(node, int) and not isinstance(node, bool),
            "number": isinstance(node, (int, float)) and not isinstance(node, bool),
            "boolean": isinstance(node, bool),
        }
        if kind is not None and not ok.get(kind, False):
            raise BadFilter(f"a {fmt or kind} value is needed here, not {node!r}", field="filter")
        if fmt == "date-time" and isinstance(node, str):
            raise BadFilter("compare date-time properties with TIMESTAMP('…') or DATE('…')", field="filter")
        if isinstance(node, int) and not isinstance(node, bool) and not -2**63 <= node < 2**63:
            raise BadFilter(f"{node} is out of range", field="filter")
        if isinstance(node, float) and not math.isfinite(node):
            raise BadFilter("numbers in a filter must be finite", field="filter")
        if isinstance(node, dt.datetime):
            return f"CAST({self.bind(node)} AS timestamptz)"
        if isinstance(node, dt.date):
            return f"CAST({self.bind(node)} AS date)"
        if isinstance(node, (str, int, float, bool)):
            cast = {str: "text", bool: "boolean", int: "bigint", float: "float8"}[type(node)]
            return f"CAST({self.bind(node)} AS {cast})"
        raise BadFilter(f"{type(node).__name__} values are not supported here", field="filter")

    # --- predicates ----------------------------------------------------------------------------------------
    def _compare(self, node: Any) -> str:
        lhs, rhs = node.lhs, node.rhs
        if not isinstance(lhs, ast.Attribute) and isinstance(rhs, ast.Attribute):
            lhs, rhs = rhs, lhs
            op = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}.get(_COMPARE[type(node)], _COMPARE[type(node)])
        else:
            op = _COMPARE[type(node)]
        want = self._type_of(lhs)
        return f"({self._literal(lhs, None)} {op} {self._literal(rhs, want)})"

    def _between(self, node: Any) -> str:
        want = self._type_of(node.lhs)
        expr = f"{self._attr(node.lhs)} BETWEEN {self._literal(node.low, want)} AND {self._literal(node.high, want)}"
        return f"(NOT ({expr}))" if node.not_ else f"({expr})"

    def _like(self, node: Any) -> str:
        if self._type_of(node.lhs) != ("string", None):
            raise BadFilter("LIKE compares a text property", field="filter")
        # CQL2's LIKE is SQL's (% and _, backslash escapes): the pattern goes to PostgreSQL as given, bound.
        op = "ILIKE" if node.nocase else "LIKE"
        expr = f"{self._attr(node.lhs)} {op} {self.bind(node.pattern)}"
        return f"(NOT ({expr}))" if node.not_ else f"({expr})"

    def _in(self, node: Any) -> str:
        want = self._type_of(node.lhs)
        items = ", ".join(self._literal(v, want) for v in node.sub_nodes)
        return f"({self._attr(node.lhs)} {'NOT ' if node.not_ else ''}IN ({items}))"

    def _geometry(self, node: Any) -> str:
        if isinstance(node, ast.Attribute):
            if node.name not in _GEOMETRY_PROPS:
                raise BadFilter(f"{node.name!r} is not the geometry; call it 'geometry'", field="filter")
            return self.coll.geom_sql
        # filter-crs is geographic (crs.parse_geographic): CRS84, EPSG:4326 or CGCS2000, which PROJ relates by a
        # null transformation (they differ by centimetres); only the axis order differs.
        c = self.filter_crs
        box: list[Any] | None = None
        if isinstance(node, ast.Function) and node.name.lower() == "bbox" and len(node.arguments) == 4:
            box = list(node.arguments)  # CQL2 text BBOX(minx, miny, maxx, maxy)
        elif isinstance(node, values.Envelope):
            # pygeofilter 0.4 builds the JSON {"bbox": [minx, miny, maxx, maxy]} as Envelope(*bbox), i.e. in bbox
            # order under the field names x1, x2, y1, y2; its text ENVELOPE fills the fields by name.
            box = [node.x1, node.x2, node.y1, node.y2] if self.lang == JSON else [node.x1, node.y1, node.x2, node.y2]
        if box is not None:
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in box):
                raise BadFilter("a bbox is four numbers", field="filter")
            x0, y0, x1, y1 = (box[1], box[0], box[3], box[2]) if c.flip else box
            return f"ST_MakeEnvelope({self.bind(float(x0))}, {self.bind(float(y0))}, {self.bind(float(x1))}, " \
                   f"{self.bind(float(y1))}, 4326)"
        if isinstance(node, values.Geometry):
            geom = f"ST_SetSRID(ST_GeomFromGeoJSON({self.bind(orjson.dumps(node.geometry).decode())}), 4326)"
            return f"ST_FlipCoordinates({geom})" if c.flip else geom
        raise BadFilter("a spatial function takes the geometry property and a geometry literal", field="filter")

    def _spatial(self, node: Any) -> str:
        fn = _SPATIAL.get(node.op.name)
        if fn is None:
            raise BadFilter(f"{type(node).__name__} is not supported", field="filter")
        return f"{fn}({self._geometry(node.lhs)}, {self._geometry(node.rhs)})"


def translate(raw: str, *, lang: str | None, coll: Collection, principal: Principal | None,
              filter_crs: crsmod.Crs) -> tuple[str, dict[str, Any]]:
    """``filter`` → (SQL fragment, bound parameters) over ``coll``'s columns as the caller may see them."""
    lang = language(raw, lang)
    tr = Translator(coll, principal, filter_crs, lang)
    sql = tr.sql(parse(raw, lang))
    return sql, tr.params
