#!/usr/bin/env bash
# The report test opens report.html in a real headless Chromium. Install Debian's chromium when
# it is missing and we may (root with apt); otherwise say what to do and let the test say the rest.
set -u
for name in "${DISTILLCTL_BROWSER:-}" chromium chromium-browser google-chrome; do
  if [ -n "$name" ] && command -v "$name" >/dev/null 2>&1; then exit 0; fi
done
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing chromium (apt-get) for the report's browser test"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q chromium >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1; } \
    && exit 0
fi
echo "warning: no chromium; the report's browser test will fail until it is installed" \
     "(Debian: sudo apt-get install chromium) or DISTILLCTL_BROWSER names one" >&2
exit 0
