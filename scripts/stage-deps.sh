#!/usr/bin/env bash
# Fills the ignored folder .deps/ with the third-party pieces the GPU machine lacks (it has a
# compiler and CUDA but no Debian -dev packages and no network): headers and libraries unpacked
# from Debian packages into .deps/root, GoogleTest sources into .deps/googletest. Run it here,
# then name .deps in the device call's `carry`. CMake looks in .deps/root/usr (top-level
# CMakeLists.txt) and cmake/Dependencies.cmake points pkg-config at it.
set -euo pipefail
cd "$(dirname "$0")/.."
DEPS=.deps
# pkgconf: the GPU machine may have no pkg-config, which Dependencies.cmake needs for PCRE2.
PACKAGES=(nlohmann-json3-dev libpcre2-dev libpcre2-8-0 libpcre2-16-0 libpcre2-32-0 libpcre2-posix3 libutf8proc-dev libutf8proc2 pkgconf-bin libpkgconf3)

rm -rf "$DEPS/root" "$DEPS/debs"
mkdir -p "$DEPS/root" "$DEPS/debs"
(cd "$DEPS/debs" && apt-get download "${PACKAGES[@]}")
for deb in "$DEPS"/debs/*.deb; do dpkg -x "$deb" "$DEPS/root"; done
rm -rf "$DEPS/debs"

# pkg-config files say prefix=/usr; rewrite them to the staged prefix so no sysroot trick is needed.
root_abs="$(cd "$DEPS/root" && pwd)"
for pc in "$DEPS"/root/usr/lib/x86_64-linux-gnu/pkgconfig/*.pc; do
  sed -i "s|^prefix=.*|prefix=\${pcfiledir}/../../..|" "$pc"
done
echo "staged into $root_abs"

rm -rf "$DEPS/googletest"
if [ -d /usr/src/googletest ]; then
  cp -r /usr/src/googletest "$DEPS/googletest"
else
  echo "stage-deps: /usr/src/googletest missing (apt-get install googletest)" >&2
  exit 1
fi
du -sh "$DEPS"
