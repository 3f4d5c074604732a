#!/usr/bin/env bash
# Installs every build and test dependency from Debian 12 packages, idempotently.
# Both README commands call this first. The CUDA toolkit is detected by CMake, never installed here.
set -euo pipefail

PACKAGES=(
  # toolchain
  build-essential cmake ninja-build pkg-config git clang libclang-rt-14-dev
  # engine
  libpcre2-dev libutf8proc-dev nlohmann-json3-dev libsentencepiece-dev libsqlite3-dev
  # downloads
  libcurl4-openssl-dev libssl-dev
  # Qt 6.4 (desktop app and its tests)
  qt6-base-dev qt6-base-dev-tools qt6-declarative-dev qt6-declarative-dev-tools
  qt6-charts-dev qt6-svg-dev libqt6sql6-sqlite libqt6svg6 libgl-dev
  qml6-module-qtquick qml6-module-qtquick-controls qml6-module-qtquick-layouts
  qml6-module-qtquick-window qml6-module-qtquick-templates qml6-module-qtquick-shapes
  qml6-module-qtquick-dialogs qml6-module-qtqml-workerscript qml6-module-qtqml-models
  qml6-module-qtcharts qml6-module-qttest qml6-module-qt-labs-platform
  qml6-module-qt-labs-settings qml6-module-qtqml
  # tests: unit tests, reference implementations, screenshots
  libgtest-dev python3 python3-numpy python3-jinja2 python3-venv python3-pip
  xvfb xauth x11-apps imagemagick
  # packaging checks
  dpkg-dev fakeroot file lintian desktop-file-utils appstream
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "install-deps: installing ${#missing[@]} packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all ${#PACKAGES[@]} Debian packages present"
fi

# Python reference libraries that Debian does not package (HF tokenizers) live in a venv
# that sees Debian's numpy and jinja2.
VENV="${HLWQ_VENV:-$(cd "$(dirname "$0")/.." && pwd)/.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  /usr/bin/python3 -m venv --system-site-packages "$VENV"
fi
if ! "$VENV/bin/python" -c "import tokenizers, sentencepiece" 2>/dev/null; then
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "tokenizers>=0.20,<1" sentencepiece
fi
echo "install-deps: python venv ready at $VENV"
