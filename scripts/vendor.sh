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
