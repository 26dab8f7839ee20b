"""Issue 17, defect 9: GeoReport v2 as its clients call it: XML beside JSON on every route, comma lists,
discovery, and (a setting) published read access, masked and coarse."""

from __future__ import annotations

from xml.etree import ElementTree as ET

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.api.open311.test_router import open311_error

V2 = "/open311/v2"


def xml(resp) -> ET.Element:
    assert resp.status_code in (200, 201), resp.text
    assert resp.headers["content-type"].startswith("text/xml")
    return ET.fromstring(resp.content)


def test_every_route_answers_xml_in_georeports_shapes(client, make_key, db: Session) -> None:
    key = make_key("intake")
    services = xml(client.get(f"{V2}/services.xml"))
    assert services.tag == "services" and services[0].tag == "service"
    assert {s.findtext("service_code") for s in services} == \
        {s["service_code"] for s in client.get(f"{V2}/services.json").json()}
    assert services[0].findtext("metadata") == "false" and services[0].findtext("type") == "realtime"
    definition = xml(client.get(f"{V2}/services/E01001.xml"))
    assert definition.tag == "service_definition" and definition.findtext("service_code") == "E01001"
    x, y = db.execute(text("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(boundary) p FROM grid "
                           "ORDER BY code LIMIT 1) t")).one()
    created = xml(client.post(f"{V2}/requests.xml", data={"api_key": key, "service_code": "E01001",
                                                          "lat": str(y), "long": str(x), "description": "路灯不亮"}))
    assert created.tag == "service_requests" and created[0].tag == "request"
    rid = created[0].findtext("service_request_id")
    assert rid and created[0].findtext("service_notice")
    one = xml(client.get(f"{V2}/requests/{rid}.xml", params={"api_key": key}))
    [req] = one.findall("request")
    assert req.findtext("service_request_id") == rid and req.findtext("status") == "open"
    assert req.findtext("description") == "路灯不亮" and float(req.findtext("lat")) == pytest.approx(y)
    assert req.find("extended_attributes").findtext("gridmap_status") == "reported"
    assert req.find("zipcode") is not None and req.find("zipcode").text is None  # "no value": an empty element
    listed = xml(client.get(f"{V2}/requests.xml", params={"api_key": key}))
    assert [r.findtext("service_request_id") for r in listed] == [rid]
    assert xml(client.get(f"{V2}/servicerequestupdates.xml", params={"api_key": key})).tag == \
        "service_requests_updates"
    discovery = xml(client.get(f"{V2}/discovery.xml"))
    endpoint = discovery.find("endpoints").find("endpoint")
    assert endpoint.findtext("url").endswith("/open311/v2")
    assert {f.text for f in endpoint.find("formats")} == {"application/json", "text/xml"}
    # Errors in XML: <errors><error><code/><description/></error></errors>, with the HTTP status.
    err = client.get(f"{V2}/requests/99999999.xml", params={"api_key": key})
    assert err.status_code == 404 and err.headers["content-type"].startswith("text/xml")
    e = ET.fromstring(err.content)
    assert e.tag == "errors" and e[0].tag == "error" and e[0].findtext("code") == "404" and e[0].findtext("description")
    assert ET.fromstring(client.get(f"{V2}/requests.xml").content)[0].findtext("code") == "401"


def test_comma_lists_of_service_codes_and_statuses(client, make_key) -> None:
    admin = {"api_key": make_key("admin")}
    everything = client.get(f"{V2}/requests.json", params=admin).json()
    codes = sorted({r["service_code"] for r in everything})
    assert len(codes) >= 3
    a, b = codes[0], codes[1]
    both = client.get(f"{V2}/requests.json", params={**admin, "service_code": f"{a},{b}"}).json()
    assert both and {r["service_code"] for r in both} == {a, b}  # was [] before: "A,B" matched no code
    each = [client.get(f"{V2}/requests.json", params={**admin, "service_code": c}).json() for c in (a, b)]
    assert len(both) == min(1000, len(each[0]) + len(each[1]))
    opened = client.get(f"{V2}/requests.json", params={**admin, "status": "open"}).json()
    closed = client.get(f"{V2}/requests.json", params={**admin, "status": "closed"}).json()
    assert opened and closed and {r["status"] for r in opened} == {"open"} and {r["status"] for r in closed} == \
        {"closed"}
    either = client.get(f"{V2}/requests.json", params={**admin, "status": "open,closed"}).json()
    assert len(either) == len(everything) == min(1000, len(opened) + len(closed))
    open311_error(client.get(f"{V2}/requests.json", params={**admin, "service_code": "A,,B"}), 422,
                  "validation_error")


def test_discovery_and_services_need_no_key(client) -> None:
    d = client.get(f"{V2}/discovery.json").json()
    assert d["endpoints"][0]["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert "every call needs one" in d["key_service"]
    assert client.get(f"{V2}/services.json").status_code == 200
    assert client.get(f"{V2}/service/E01001.json").json()["service_code"] == "E01001"  # the open311 client's path


@pytest.fixture
def public_client(client):
    settings = client.app.state.settings
    client.app.state.settings = settings.model_copy(update={"open311_public_read": True})
    yield client
    client.app.state.settings = settings


def test_public_read_is_off_by_default_and_masked_and_coarse_when_on(client, make_key, db: Session) -> None:
    key = make_key("intake")
    x, y = db.execute(text("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(boundary) p FROM grid "
                           "ORDER BY code LIMIT 1) t")).one()
    rid = client.post(f"{V2}/requests.json", data={
        "api_key": key, "service_code": "E01001", "lat": str(y), "long": str(x), "description": "3号楼王阿姨家门口",
        "address_string": "幸福小区3号楼2单元", "first_name": "阿姨", "last_name": "王", "phone": "13900001111",
        "media_url": "https://example.org/face.jpg"}).json()[0]["service_request_id"]
    open311_error(client.get(f"{V2}/requests/{rid}.json"), 401, "unauthorized")
    settings = client.app.state.settings
    client.app.state.settings = settings.model_copy(update={"open311_public_read": True})
    try:
        [pub] = client.get(f"{V2}/requests/{rid}.json").json()
        listed = client.get(f"{V2}/requests.json").json()
        updates = client.get(f"{V2}/servicerequestupdates.json").json()
        assert "reads need no key" in client.get(f"{V2}/discovery.json").json()["key_service"]
        # a key still works, and still scopes: the intake key sees its own request in full
        [own] = client.get(f"{V2}/requests/{rid}.json", params={"api_key": key}).json()
        open311_error(client.get(f"{V2}/requests.json", params={"api_key": "gm_bad"}), 401, "unauthorized")
        open311_error(client.post(f"{V2}/requests.json", data={"service_code": "E01001"}), 401, "unauthorized")
    finally:
        client.app.state.settings = settings
    assert own["description"] == "3号楼王阿姨家门口" and own["lat"] == y
    assert pub["description"] is None and pub["address"] is None and pub["media_url"] is None
    assert pub["lat"] == round(y, 3) and pub["long"] == round(x, 3) and pub["lat"] != y
    assert pub["service_code"] == "E01001" and pub["status"] == "open"
    assert "13900001111" not in str(listed) and "王阿姨" not in str(listed) and "幸福小区" not in str(listed)
    assert rid in {r["service_request_id"] for r in listed} and len(listed) > 1
    assert all(u["description"] is None for u in updates)
    assert all(len(str(r["lat"]).split(".")[-1]) <= 3 for r in listed if r["lat"] is not None)
