#!/usr/bin/env bash
# Headless Chromium for the report's screenshot test (Debian's package). A no-op when a
# chromium is already on PATH; needs root (CI runs as root) or passwordless sudo.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
        echo "install-chromium: not root and no sudo: install Debian's 'chromium' package" >&2
        exit 1
    fi
fi
echo "install-chromium: installing Debian's chromium package (for the report test)"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
command -v chromium >/dev/null
