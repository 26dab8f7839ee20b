"""Headless QGIS opens gridmap's /ogc as an OAPIF layer (issue 23, `make interop`).

Run with Debian's python3 (the QGIS bindings are Debian's python3-qgis, not in .venv):
    python3 scripts/qgis_oapif.py http://127.0.0.1:8000 KEY EXPECTED_GRIDS [DRAFT_ID]
It opens the grids collection, counts its features against EXPECTED_GRIDS (the API's numberMatched), reads one
feature's attributes and reports whether this QGIS's OAPIF provider can edit (Part 4) a draft layout's collection.
The key goes in an ``Authorization: Bearer`` header added to every request QGIS makes (QGIS 3.22 has no header
authentication method; 3.26+ has "API Header").
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from qgis.core import (  # the platform must be set first
    Qgis,
    QgsApplication,
    QgsFeatureRequest,
    QgsNetworkAccessManager,
    QgsVectorDataProvider,
    QgsVectorLayer,
)


def main() -> int:
    base, key, expected = sys.argv[1], sys.argv[2], int(sys.argv[3])
    draft = sys.argv[4] if len(sys.argv) > 4 else None
    app = QgsApplication([], False)
    app.initQgis()

    def add_key(request) -> None:  # a QNetworkRequest
        if request.url().toString().startswith(base):
            request.setRawHeader(b"Authorization", f"Bearer {key}".encode())

    QgsNetworkAccessManager.setRequestPreprocessor(add_key)
    print(f"QGIS {Qgis.version()}")
    layer = QgsVectorLayer(f"url='{base}/ogc' typename='grids' pagingEnabled='true'", "grids", "OAPIF")
    if not layer.isValid():
        print("FAIL: QGIS could not open the grids collection:", layer.error().summary())
        return 1
    count = sum(1 for _ in layer.getFeatures(QgsFeatureRequest()))
    first = next(layer.getFeatures(QgsFeatureRequest().setLimit(1)))
    print(f"grids: {count} features read (the API says {expected}); fields {layer.fields().names()}; "
          f"first {first['code']} {first['name']}; CRS {layer.crs().authid()}; extent {layer.extent().toString(4)}")
    ok = count == expected
    if draft is not None:
        edit = QgsVectorLayer(f"url='{base}/ogc' typename='grids-layout-{draft}'", "draft", "OAPIF")
        caps = edit.dataProvider().capabilities() if edit.isValid() else 0
        can = bool(caps & QgsVectorDataProvider.ChangeAttributeValues)
        print(f"grids-layout-{draft} (a draft): opened={edit.isValid()}, "
              f"{edit.featureCount()} features; this QGIS's OAPIF provider "
              + ("can edit (Part 4)" if can else "cannot edit: OAPIF Part 4 is not supported by this QGIS version"))
        if can:
            feature = next(edit.getFeatures(QgsFeatureRequest().setLimit(1)))
            idx = edit.fields().indexOf("name")
            done = edit.dataProvider().changeAttributeValues({feature.id(): {idx: f"{feature['name']} (QGIS)"}})
            print(f"renamed {feature['code']} through Part 4: {done}")
            ok = ok and done
    methods = QgsApplication.authManager().authMethodsKeys()
    print(f"authentication methods of this QGIS: {', '.join(sorted(methods))}")
    print("OK" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    # QGIS 3.22 crashes in exitQgis() while provider threads wind down (a segfault after the work is done):
    # leave without the teardown, the answer already printed.
    os._exit(code)
