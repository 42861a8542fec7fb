#!/bin/sh
# Verify systemd/intransitd.service with systemd-analyze, as CI does.
#
# systemd-analyze verify insists that every Exec* binary exists, so the
# unit is checked inside a throw-away root that holds a freshly built
# intransitd at /usr/bin/intransitd, /bin/kill and the host's systemd unit
# tree (for the targets the unit refers to). Exit status: that of
# systemd-analyze verify (non-zero on any warning about the unit).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/usr/bin" "$root/bin" "$root/etc/systemd/system" "$root/usr/lib/systemd"
(cd "$here/.." && go build -o "$root/usr/bin/intransitd" ./cmd/intransitd)
cp /bin/kill "$root/bin/kill"
cp -r /usr/lib/systemd/system "$root/usr/lib/systemd/"
cp "$here/intransitd.service" "$root/etc/systemd/system/"
out=$(systemd-analyze verify --root="$root" "$root/etc/systemd/system/intransitd.service" 2>&1) || {
	echo "$out" >&2
	exit 1
}
if [ -n "$out" ]; then
	echo "$out" >&2
	exit 1
fi
echo "systemd/intransitd.service: systemd-analyze verify ok"
