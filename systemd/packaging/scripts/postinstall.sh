#!/bin/sh
# After install or upgrade (deb postinst "configure", rpm %post): let
# systemd see the units. Nothing is enabled or started on a first install;
# an upgrade restarts the units that were running, so that they run the new
# binaries. Under DPKG_ROOT (an install into another root) systemd is left
# alone.
set -e
[ -z "${DPKG_ROOT:-}" ] && [ -d /run/systemd/system ] || exit 0
systemctl daemon-reload || true
upgrade=no
case "$1" in
configure) [ -n "${2:-}" ] && upgrade=yes ;;
[2-9] | [1-9][0-9]*) upgrade=yes ;;
esac
if [ "$upgrade" = yes ]; then
	systemctl try-restart intransitd.service 'intransit-p2s@*.service' || true
fi
exit 0
