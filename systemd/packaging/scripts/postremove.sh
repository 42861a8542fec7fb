#!/bin/sh
# After removal (deb postrm, rpm %postun): let systemd forget the units. A
# purge (deb only) also deletes the state the units keep: the gateway's
# WireGuard key in /var/lib/intransitd and the point-to-site profiles in
# /var/lib/intransit/p2s. /etc/intransit keeps what the administrator put
# there beside the configuration (keys, certificates).
set -e
if [ -z "${DPKG_ROOT:-}" ] && [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
fi
if [ "$1" = purge ]; then
	rm -rf "${DPKG_ROOT:-}/var/lib/intransitd" "${DPKG_ROOT:-}/var/lib/intransit/p2s"
	rmdir "${DPKG_ROOT:-}/var/lib/intransit" 2>/dev/null || true
fi
exit 0
