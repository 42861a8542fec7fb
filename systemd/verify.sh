#!/bin/sh
# Verify the units in systemd/ with systemd-analyze, as CI does.
#
# systemd-analyze verify insists that every Exec* binary exists, so the
# units are checked inside a throw-away root that holds freshly built
# intransitd and intransit binaries in /usr/bin, /bin/kill and the host's
# systemd unit tree (for the targets the units refer to). The template unit
# intransit-p2s@.service is checked through an instance of it. Exit status:
# non-zero on any warning about a unit.
#
# With an argument, the units and binaries are those of the intransit
# package installed under that directory (dpkg --root), not the tree's.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
installed=${1:-}
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/usr/bin" "$root/bin" "$root/etc/systemd/system" "$root/usr/lib/systemd"
if [ -n "$installed" ]; then
	cp "$installed/usr/bin/intransitd" "$installed/usr/bin/intransit" "$root/usr/bin/"
	units="$installed/usr/lib/systemd/system"
else
	(cd "$here/.." && go build -o "$root/usr/bin/intransitd" ./cmd/intransitd && go build -o "$root/usr/bin/intransit" ./cmd/intransit)
	units=$here
fi
cp /bin/kill "$root/bin/kill"
cp -r /usr/lib/systemd/system "$root/usr/lib/systemd/"
cp "$units/intransitd.service" "$units/intransitd-guard.service" "$units/intransit-p2s@.service" "$root/etc/systemd/system/"
status=0
for unit in intransitd.service intransitd-guard.service intransit-p2s@laptop.service; do
	out=$(cd "$root/etc/systemd/system" && systemd-analyze verify --root="$root" "$unit" 2>&1) || status=1
	if [ -n "$out" ]; then
		echo "$out" >&2
		status=1
	fi
	[ "$status" -eq 0 ] && echo "systemd/$unit: systemd-analyze verify ok"
done
exit "$status"
