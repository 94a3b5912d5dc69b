#!/bin/sh
# Builds the Keyserver PKCS#11 module: only the C_* entry points are exported.
# Usage: pkcs11client/build.sh [output.so]   (default build/libpkcs11ks.so)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
out=${1:-"$root/build/libpkcs11ks.so"}
mkdir -p "$(dirname "$out")"
cd "$root"
CGO_ENABLED=1 go build -trimpath -buildmode=c-shared \
	-ldflags "-s -w -extldflags=-Wl,--version-script=$here/exports.map,-Bsymbolic,-z,now" \
	-o "$out" ./pkcs11client
rm -f "${out%.so}.h"
