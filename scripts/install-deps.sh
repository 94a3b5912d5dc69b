#!/usr/bin/env bash
# Installs the Debian packages the Keyserver's build, local stack and tests need,
# when any is missing. Runs apt-get as root, or through sudo.
set -euo pipefail

packages=(softhsm2 opensc gnutls-bin libengine-pkcs11-openssl osslsigncode jq curl
  libp11-kit-dev gcc make ca-certificates binutils chromium)
backports=(pkcs11-provider)

missing=()
# Node.js may come from elsewhere than Debian (Azurite wants a recent one); only install it when absent.
command -v node >/dev/null && command -v npm >/dev/null || packages+=(nodejs npm)
for p in "${packages[@]}" "${backports[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo=sudo
fi

echo "install-deps: installing ${missing[*]}"
. /etc/os-release
if [ "${VERSION_CODENAME:-}" = bookworm ] && ! grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d/; then
  # pkcs11-provider (OpenSSL 3) comes from bookworm-backports.
  printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' |
    $sudo tee /etc/apt/sources.list.d/keyserver-backports.sources >/dev/null
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${packages[@]}"
if [ "${VERSION_CODENAME:-}" = bookworm ]; then
  $sudo apt-get install -y -q --no-install-recommends -t bookworm-backports "${backports[@]}"
else
  $sudo apt-get install -y -q --no-install-recommends "${backports[@]}"
fi
