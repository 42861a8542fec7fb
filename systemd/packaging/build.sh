#!/bin/sh
# Build the intransit packages: intransit_VERSION-1_ARCH.deb and
# intransit-VERSION-1.ARCH.rpm in OUTDIR (default: the current directory),
# with intransitd, intransit, the systemd units of systemd/, an example
# /etc/intransit/intransitd.yaml (a conffile: an upgrade never overwrites
# the administrator's), the manual pages intransit(1) and intransitd(8),
# the shell completions (bash, zsh, fish) and the example configurations of
# docs/examples. The pages and completions are made by the CLI itself (a
# build for this host when GOARCH is another). nfpm is run from the module
# pinned in nfpm/go.mod.
#
# Environment: VERSION (default 0.1.0+gitDATE.COMMIT, or 0.1.0 outside git),
# GOARCH (default: the Go toolchain's), PACKAGERS (default "deb rpm").
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=$(mkdir -p "${1:-.}" && cd "${1:-.}" && pwd)

if [ -z "${VERSION:-}" ]; then
	VERSION=0.1.0
	if rev=$(git -C "$repo" log -1 --format=%cd.%h --date=format:%Y%m%d 2>/dev/null); then
		VERSION="0.1.0+git$rev"
	fi
fi
GOARCH=${GOARCH:-$(go env GOARCH)}
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
export VERSION GOARCH STAGE

for cmd in intransitd intransit; do
	(cd "$repo" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$STAGE/$cmd" "./cmd/$cmd")
done
# The manual pages and completions, made by an intransit that runs here.
host=$STAGE/intransit
if [ "$GOARCH" != "$(go env GOHOSTARCH)" ]; then
	host=$STAGE/intransit-host
	(cd "$repo" && GOARCH=$(go env GOHOSTARCH) CGO_ENABLED=0 go build -o "$host" ./cmd/intransit)
fi
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$repo" log -1 --format=%ct 2>/dev/null || date +%s)}
export SOURCE_DATE_EPOCH
"$host" man "$STAGE/man" >/dev/null
gzip -9n "$STAGE"/man/*
mkdir "$STAGE/completions"
"$host" completion bash >"$STAGE/completions/intransit"
"$host" completion zsh >"$STAGE/completions/_intransit"
"$host" completion fish >"$STAGE/completions/intransit.fish"
# nfpm runs here, whatever GOARCH the package is for.
GOARCH=$(go env GOHOSTARCH) go -C "$here/nfpm" build -o "$STAGE/nfpm" github.com/goreleaser/nfpm/v2/cmd/nfpm
cd "$here"
for packager in ${PACKAGERS:-deb rpm}; do
	"$STAGE/nfpm" package --config nfpm.yaml --packager "$packager" --target "$out/"
done
