#!/usr/bin/env bash
# Build the example app for hotswap: a static binary and the FROM-scratch
# image hotswap-example/web:VERSION on the local Docker engine. No registry
# is involved: hotswap uses a local image as is (it pulls only when the tag
# is missing).
#
#   ./build.sh v1            # bin/web + hotswap-example/web:v1
#   ./build.sh v2
#   ./build.sh --hotswap     # bin/hotswap + hotswap-example/hotswap:latest (compose.yaml)
#
# In CI you would `docker push` the tag and call `hotswap deploy web $VERSION`
# (or let a registry webhook do it).
set -euo pipefail

cd "$(dirname "$0")"
IMAGE=hotswap-example/web

usage() {
	echo "usage: $0 VERSION | --hotswap" >&2
	exit 2
}
[[ $# -eq 1 ]] || usage

# Static, Linux, stripped: what a FROM-scratch image can run.
gobuild() {
	CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags='-s -w' -o "$@"
}

if [[ $1 == --hotswap ]]; then
	gobuild bin/hotswap ../../cmd/hotswap
	docker build -f hotswap.Dockerfile -t hotswap-example/hotswap:latest .
	echo "built hotswap-example/hotswap:latest"
	exit 0
fi

VERSION=$1
# The same rule hotswap applies to versions by default: a valid image tag.
if [[ ! $VERSION =~ ^v?[A-Za-z0-9][A-Za-z0-9._-]{0,127}$ ]]; then
	echo "build.sh: version $VERSION: use letters, digits and ._- (e.g. v1.4.0)" >&2
	exit 2
fi

gobuild bin/web ./app
docker build --build-arg "VERSION=$VERSION" -t "$IMAGE:$VERSION" .
echo "built $IMAGE:$VERSION"
