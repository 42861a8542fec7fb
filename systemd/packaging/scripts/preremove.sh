#!/bin/sh
# Before removal (deb prerm "remove", rpm %preun with 0 left): stop and
# disable the units, so that no daemon runs from deleted binaries. An
# upgrade leaves them running; the new package's postinstall restarts them.
set -e
[ -z "${DPKG_ROOT:-}" ] && [ -d /run/systemd/system ] || exit 0
case "$1" in
remove | 0)
	systemctl stop intransitd.service 'intransit-p2s@*.service' || true
	systemctl disable intransitd.service intransitd-guard.service || true
	;;
esac
exit 0
