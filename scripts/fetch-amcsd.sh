#!/usr/bin/env bash
# Rebuilds data/amcsd.json.gz from the AMCSD database in Debian's python3-xraylarch package
# (bookworm main, BSD-2-Clause): downloads the package without installing it (its dependencies
# are heavy), unpacks it into a temporary folder and converts larch/xrd/amscif_trim.db.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download python3-xraylarch >/dev/null 2>&1) || {
  echo "apt-get download python3-xraylarch failed: this needs a Debian or Ubuntu machine with its package lists (apt-get update)" >&2
  exit 1
}
dpkg-deb -x "$work"/python3-xraylarch_*.deb "$work/x"
db=$(find "$work/x" -name amscif_trim.db | head -1)
[ -n "$db" ] || { echo "amscif_trim.db is not in this python3-xraylarch package" >&2; exit 1; }
npx tsx scripts/build-amcsd-library.ts "$db" "${1:-data/amcsd.json.gz}"
