#!/usr/bin/env bash
# Installs what the browser tests need: Debian's Chromium and the npm packages pinned in
# package-lock.json. Run by the browser test itself (crates/countersign/tests/cli/web.rs), so the
# README's test command needs nothing installed by hand.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v chromium >/dev/null; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "Chromium is missing: install Debian's package with \`sudo apt-get install chromium\`" >&2
        exit 2
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 \
        || { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; }
fi
if [ ! -d node_modules/playwright-core ] || [ ! -d node_modules/axe-core ] || [ package-lock.json -nt node_modules ]; then
    npm ci --no-audit --no-fund --silent
fi
