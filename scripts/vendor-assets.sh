#!/usr/bin/env bash
# Refresh the vendored front-end assets from the npm registry (versions: package.json).
# The app serves these itself, so it works on an intranet with no internet.
set -euo pipefail
cd "$(dirname "$0")/.."
npm install --no-audit --no-fund --ignore-scripts

version() { node -p "require('./node_modules/$1/package.json').version"; }

dest=static/vendor/swagger-ui
rm -rf "$dest" && mkdir -p "$dest"
src=node_modules/swagger-ui-dist
cp "$src"/{swagger-ui-bundle.js,swagger-ui-standalone-preset.js,swagger-ui.css,LICENSE} "$dest"/
cp "$src"/favicon-32x32.png "$dest"/

dest=static/vendor/htmx
rm -rf "$dest" && mkdir -p "$dest"
cp node_modules/htmx.org/dist/htmx.min.js node_modules/htmx.org/LICENSE "$dest"/

dest=static/vendor/pico
rm -rf "$dest" && mkdir -p "$dest"
cp node_modules/@picocss/pico/css/pico.min.css node_modules/@picocss/pico/LICENSE.md "$dest"/

cat > static/vendor/VERSIONS.md <<MD
# Vendored front-end assets
Fetched from the npm registry by \`scripts/vendor-assets.sh\`; do not edit by hand.

| package | version | files |
| --- | --- | --- |
| swagger-ui-dist | $(version swagger-ui-dist) | \`swagger-ui/\` (API docs at /api/docs) |
| htmx.org | $(version htmx.org) | \`htmx/htmx.min.js\` (the pages' interactivity) |
| @picocss/pico | $(version @picocss/pico) | \`pico/pico.min.css\` (the pages' stylesheet) |
MD
cat static/vendor/VERSIONS.md
