#!/usr/bin/env bash
# Re-fetch the front end's vendored third-party files into web/vendor/.
#
# For maintainers only (not run by make or CI): the vendored files are committed
# so the page works on an offline intranet with no CDN. Versions are pinned here
# and listed in web/vendor/README.md; bump both together.
#
# Usage: scripts/vendor.sh        (needs node/npm and access to the npm registry)
set -euo pipefail

LEAFLET_VERSION="1.9.4"
# sha256 of leaflet-${LEAFLET_VERSION}.tgz as published on the npm registry
LEAFLET_SHA256="84c65a256e50657896f54c33bd857b6849ebe94c817803be818bf32a3dde0b77"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
vendor_dir="${repo_root}/web/vendor"
work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT

echo "fetching leaflet@${LEAFLET_VERSION} ..."
(cd "${work}" && npm pack --silent "leaflet@${LEAFLET_VERSION}" >/dev/null)
tgz="${work}/leaflet-${LEAFLET_VERSION}.tgz"
echo "${LEAFLET_SHA256}  ${tgz}" | sha256sum --check --quiet -
tar -xzf "${tgz}" -C "${work}"

dest="${vendor_dir}/leaflet"
rm -rf "${dest}"
mkdir -p "${dest}/images"
cp "${work}/package/dist/leaflet.js" "${work}/package/dist/leaflet.css" "${dest}/"
cp "${work}/package/dist/images/"*.png "${dest}/images/"
cp "${work}/package/LICENSE" "${dest}/LICENSE"

echo "vendored leaflet ${LEAFLET_VERSION} into ${dest#"${repo_root}/"}"

# --- the map wall's plugins (issue 7) ---------------------------------------------------------
HEAT_VERSION="0.2.0"
HEAT_SHA256="6d980bce16b6bbe8e3b124d200dfd12964ff8f6bfff44eb3a47344f97dfc5c7f"
VECTORGRID_VERSION="1.3.0"
VECTORGRID_SHA256="4eaf00b9c3c80e53d59a84a9d3523f1b9ae3149e709db6fa293e9c292739ed7e"

fetch() {  # name version sha256 -> unpacked into ${work}/<name>/package
  local name="$1" ver="$2" sum="$3"
  mkdir -p "${work}/${name}"
  (cd "${work}/${name}" && npm pack --silent "${name}@${ver}" >/dev/null)
  echo "${sum}  ${work}/${name}/${name}-${ver}.tgz" | sha256sum --check --quiet -
  tar -xzf "${work}/${name}/${name}-${ver}.tgz" -C "${work}/${name}"
}

echo "fetching leaflet.heat@${HEAT_VERSION} ..."
fetch leaflet.heat "${HEAT_VERSION}" "${HEAT_SHA256}"
rm -rf "${vendor_dir}/leaflet.heat" && mkdir -p "${vendor_dir}/leaflet.heat"
cp "${work}/leaflet.heat/package/dist/leaflet-heat.js" "${work}/leaflet.heat/package/LICENSE" "${vendor_dir}/leaflet.heat/"

echo "fetching leaflet.vectorgrid@${VECTORGRID_VERSION} ..."
fetch leaflet.vectorgrid "${VECTORGRID_VERSION}" "${VECTORGRID_SHA256}"
rm -rf "${vendor_dir}/leaflet.vectorgrid" && mkdir -p "${vendor_dir}/leaflet.vectorgrid"
cp "${work}/leaflet.vectorgrid/package/dist/Leaflet.VectorGrid.bundled.min.js" "${vendor_dir}/leaflet.vectorgrid/"
# The package ships no LICENSE file; its README's "Legalese" section is the licence (Beerware).
{
  awk '/^## Legalese/,0' "${work}/leaflet.vectorgrid/package/README.md"
  printf '\n(The "Legalese" section of the README of the npm package leaflet.vectorgrid@%s, which ships no LICENSE\n' "${VECTORGRID_VERSION}"
  printf 'file. The bundled build also contains geojson-vt (ISC), pbf, topojson and vector-tile (BSD), as that README says.)\n'
} > "${vendor_dir}/leaflet.vectorgrid/LICENSE"
echo "vendored leaflet.heat ${HEAT_VERSION} and leaflet.vectorgrid ${VECTORGRID_VERSION}"

# --- the planner's editor (issue 8) -------------------------------------------------------------
GEOMAN_VERSION="2.20.2"
GEOMAN_SHA256="1688a81159de5610fcb7af59f7d76a5133aa5fe58d1840aa43b5915a0c1699a0"
GEOMAN_PKG="@geoman-io/leaflet-geoman-free"

echo "fetching ${GEOMAN_PKG}@${GEOMAN_VERSION} ..."
mkdir -p "${work}/geoman"
(cd "${work}/geoman" && npm pack --silent "${GEOMAN_PKG}@${GEOMAN_VERSION}" >/dev/null)
echo "${GEOMAN_SHA256}  ${work}/geoman/geoman-io-leaflet-geoman-free-${GEOMAN_VERSION}.tgz" | sha256sum --check --quiet -
tar -xzf "${work}/geoman/geoman-io-leaflet-geoman-free-${GEOMAN_VERSION}.tgz" -C "${work}/geoman"
rm -rf "${vendor_dir}/leaflet-geoman" && mkdir -p "${vendor_dir}/leaflet-geoman"
cp "${work}/geoman/package/dist/leaflet-geoman.min.js" "${work}/geoman/package/dist/leaflet-geoman.css" \
   "${work}/geoman/package/LICENSE" "${vendor_dir}/leaflet-geoman/"
echo "vendored ${GEOMAN_PKG} ${GEOMAN_VERSION}"

# --- the API documentation pages, offline (issue 24) -------------------------------------------
SWAGGER_VERSION="5.36.0"
SWAGGER_SHA256="685a2b38b5d6eab2dbc096a8596db11cc7409cdb671d2e3bec8f9b017d0d566b"
REDOC_VERSION="2.5.4"
REDOC_SHA256="44922df4d0eb45c1b066c09ec251e6bd9bd7ded16bc69e87613337b9d911a56e"

echo "fetching swagger-ui-dist@${SWAGGER_VERSION} ..."
fetch swagger-ui-dist "${SWAGGER_VERSION}" "${SWAGGER_SHA256}"
rm -rf "${vendor_dir}/swagger-ui" && mkdir -p "${vendor_dir}/swagger-ui"
for f in swagger-ui-bundle.js swagger-ui.css favicon-32x32.png LICENSE NOTICE; do
  cp "${work}/swagger-ui-dist/package/${f}" "${vendor_dir}/swagger-ui/"
done

echo "fetching redoc@${REDOC_VERSION} ..."
fetch redoc "${REDOC_VERSION}" "${REDOC_SHA256}"
rm -rf "${vendor_dir}/redoc" && mkdir -p "${vendor_dir}/redoc"
cp "${work}/redoc/package/bundles/redoc.standalone.js" "${work}/redoc/package/bundles/redoc.standalone.js.LICENSE.txt" \
   "${work}/redoc/package/LICENSE" "${vendor_dir}/redoc/"
# ReDoc's side menu shows a "Redocly" logo fetched from cdn.redoc.ly (hidden when it fails to load): point it at
# an empty image so that the page makes no request off the intranet.
sed -i 's#src:"https://cdn.redoc.ly/redoc/logo-mini.svg"#src:"data:,"#' "${vendor_dir}/redoc/redoc.standalone.js"
grep -q 'cdn.redoc.ly' "${vendor_dir}/redoc/redoc.standalone.js" && { echo "redoc still loads from cdn.redoc.ly" >&2; exit 1; }
echo "vendored swagger-ui ${SWAGGER_VERSION} and redoc ${REDOC_VERSION}"
