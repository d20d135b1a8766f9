#!/usr/bin/env bash
# Refresh the vendored front-end assets from the npm registry (versions: package.json).
# The app serves these itself, so it works on an intranet with no internet.
set -euo pipefail
cd "$(dirname "$0")/.."
npm install --no-audit --no-fund --ignore-scripts
dest=static/vendor/swagger-ui
rm -rf "$dest" && mkdir -p "$dest"
src=node_modules/swagger-ui-dist
cp "$src"/{swagger-ui-bundle.js,swagger-ui-standalone-preset.js,swagger-ui.css,LICENSE} "$dest"/
cp "$src"/favicon-32x32.png "$dest"/
version=$(node -p "require('./$src/package.json').version")
cat > static/vendor/VERSIONS.md <<MD
# Vendored front-end assets
Fetched from the npm registry by \`scripts/vendor-assets.sh\`; do not edit by hand.

| package | version | files |
| --- | --- | --- |
| swagger-ui-dist | $version | \`swagger-ui/\` (API docs at /api/docs) |
MD
echo "vendored swagger-ui-dist $version"
