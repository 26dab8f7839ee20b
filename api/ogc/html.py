"""The HTML encoding of /ogc (Part 1's ``html`` class): each JSON document shown as a plain page with its links
followed, its features as a table. No script, no styles from elsewhere: it works on an offline intranet."""

from __future__ import annotations

from html import escape
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

STYLE = ("body{font:14px system-ui,sans-serif;margin:2em;max-width:80em}table{border-collapse:collapse}"
         "td,th{border:1px solid #ccc;padding:2px 6px;text-align:left;vertical-align:top}h1{font-size:1.4em}")


def wants_html(request: Request) -> bool:
    """``f=html``, or a browser's Accept (HTML before any JSON); ``f=json`` always wins."""
    f = request.query_params.get("f")
    if f is not None:
        return f.lower() == "html"
    accept = request.headers.get("accept", "")
    return "text/html" in accept and "json" not in accept.split("text/html")[0]


def _links(links: list[dict[str, Any]]) -> str:
    rows = "".join(
        f'<li><a href="{escape(lk["href"])}">{escape(lk.get("title") or lk["rel"])}</a> '
        f'<small>({escape(lk["rel"])}, {escape(lk.get("type", ""))})</small></li>' for lk in links)
    return f"<ul>{rows}</ul>"


def _value(v: Any) -> str:
    if isinstance(v, (dict, list)):
        return f"<code>{escape(str(v))[:300]}</code>"
    return escape("" if v is None else str(v))


def _features(features: list[dict[str, Any]]) -> str:
    if not features:
        return "<p>No features.</p>"
    names = list(features[0].get("properties") or {})
    head = "".join(f"<th>{escape(n)}</th>" for n in ["id", *names])
    body = "".join(
        "<tr>" + f"<td>{_value(f.get('id'))}</td>" + "".join(
            f"<td>{_value((f.get('properties') or {}).get(n))}</td>" for n in names) + "</tr>" for f in features)
    return f"<table><tr>{head}</tr>{body}</table>"


def render(doc: dict[str, Any], title: str) -> HTMLResponse:
    parts = [f"<h1>{escape(doc.get('title') or title)}</h1>"]
    if doc.get("description"):
        parts.append(f"<p>{escape(doc['description'])}</p>")
    if "numberMatched" in doc:
        parts.append(f"<p>{doc['numberReturned']} of {doc['numberMatched']} features</p>")
    if doc.get("links"):
        parts.append(_links(doc["links"]))
    if "conformsTo" in doc:
        parts.append("<ul>" + "".join(f"<li>{escape(c)}</li>" for c in doc["conformsTo"]) + "</ul>")
    for coll in doc.get("collections", []):
        parts.append(f"<h2>{escape(coll['title'])}</h2><p>{escape(coll.get('description', ''))}</p>"
                     + _links(coll["links"]))
    if doc.get("type") == "FeatureCollection":
        parts.append(_features(doc.get("features", [])))
    elif doc.get("type") == "Feature":
        parts.append(_features([doc]))
    page = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>")
    return HTMLResponse(page)
