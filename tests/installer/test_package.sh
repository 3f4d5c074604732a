#!/usr/bin/env bash
# Builds the .deb and .tar.gz with CPack, installs each into an empty temporary root (no
# system install, no root needed) and runs the installed programs from there: hlwq --version,
# hlwq run on the bundled model, hlwq-chat --self-test offscreen. Then lintian (no errors),
# desktop-file-validate and appstreamcli validate on the packaged files.
# usage: test_package.sh BUILD_DIR        exit 77 (skip) when the packaging tools are missing
set -euo pipefail
build=$(cd "$1" && pwd)
for tool in cpack dpkg-deb dpkg-shlibdeps fakeroot; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool not installed (scripts/install-deps.sh)"; exit 77; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/hlwq-pkg-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# A user's environment must not leak in, and the test must not write into the user's files.
export HOME="$work/home" XDG_CONFIG_HOME="$work/home/.config" XDG_DATA_HOME="$work/home/.local/share" \
       XDG_CACHE_HOME="$work/home/.cache" HF_HOME="$work/home/.cache/huggingface" HF_HUB_OFFLINE=1
unset HLWQ_MODELS_DIR || true
export XDG_RUNTIME_DIR="$work/runtime"
mkdir -p "$HOME" && mkdir -m 700 "$XDG_RUNTIME_DIR"

echo "== cpack"
(cd "$build" && cpack -G "DEB;TGZ" -B "$work/pkg") >"$work/cpack.log" 2>&1 || { cat "$work/cpack.log"; fail "cpack"; }
deb=$(ls "$work"/pkg/*.deb) || fail "no .deb produced"
tgz=$(ls "$work"/pkg/*.tar.gz) || fail "no .tar.gz produced"
echo "$deb"; echo "$tgz"
dpkg-deb --info "$deb" | sed -n '/Architecture:/,$p'

# Removing the package must leave user data alone: it owns files under /usr only and has no
# maintainer scripts that could touch anything else.
outside=$(dpkg-deb -c "$deb" | awk '{print $6}' | grep -v -E '^\./(usr(/.*)?)?$' || true)
[ -z "$outside" ] || fail "files outside /usr: $outside"
dpkg-deb -e "$deb" "$work/control"
for script in preinst postinst prerm postrm; do
  [ ! -e "$work/control/$script" ] || fail "unexpected maintainer script $script"
done

# Every dependency must exist in this distribution: apt resolves the .deb without installing it.
if command -v apt-get >/dev/null && apt-cache show libc6 >/dev/null 2>&1; then
  echo "== apt-get --simulate install"
  apt-get install --simulate "$deb" >"$work/apt.txt" 2>&1 || { cat "$work/apt.txt"; fail "dependencies do not resolve"; }
else
  echo "(no apt package lists: dependency resolution skipped)"
fi

run_installed() {  # ROOT BIN_DIR: the checks that need only the installed files
  local bin=$2
  echo "== $bin/hlwq --version"
  "$bin/hlwq" --version | grep -E "^hlwq [0-9]" || fail "hlwq --version"
  local models
  models=$(dirname "$bin")/share/hlwq/models
  local model
  model=$(find "$models" -mindepth 2 -maxdepth 2 -name config.json 2>/dev/null | head -n 1 || true)
  if [ -n "$model" ]; then
    echo "== hlwq run on the bundled model $(dirname "$model")"
    "$bin/hlwq" run -m "$(dirname "$model")" -p "Once upon a time" -n 8 --greedy --backend cpu </dev/null \
      | tee "$work/run.txt" || fail "hlwq run on the bundled model"
    [ -s "$work/run.txt" ] || fail "hlwq run printed nothing"
  else
    echo "(no bundled model in this build: hlwq run skipped)"
  fi
  if [ -x "$bin/hlwq-chat" ]; then
    echo "== $bin/hlwq-chat --self-test (offscreen)"
    QT_QPA_PLATFORM=offscreen timeout 120 "$bin/hlwq-chat" --self-test || fail "hlwq-chat --self-test"
  else
    echo "(built without the desktop app: self-test skipped)"
  fi
}

echo "== .deb into an empty root"
dpkg -x "$deb" "$work/root"
run_installed "$work/root" "$work/root/usr/bin"

echo "== .tar.gz, moved after unpacking (relocatable)"
mkdir -p "$work/tar"
tar -xzf "$tgz" -C "$work/tar"
top=$(find "$work/tar" -mindepth 1 -maxdepth 1 -type d | head -n 1)
mv "$top" "$work/moved-prefix"
run_installed "$work/moved-prefix" "$work/moved-prefix/bin"

if [ -x "$work/root/usr/bin/hlwq-chat" ]; then
  echo "== desktop entry and metainfo"
  command -v desktop-file-validate >/dev/null && desktop-file-validate "$work"/root/usr/share/applications/*.desktop
  command -v appstreamcli >/dev/null && appstreamcli validate --no-net "$work"/root/usr/share/metainfo/*.metainfo.xml
  ls "$work"/root/usr/share/icons/hicolor/scalable/apps/*.svg >/dev/null || fail "no SVG icon"
  # The menu entry's Icon= and the metainfo's launchable must name files the package installs.
  desktop=$(ls "$work"/root/usr/share/applications/*.desktop)
  icon=$(sed -n 's/^Icon=//p' "$desktop")
  ls "$work"/root/usr/share/icons/hicolor/*/apps/"$icon".* >/dev/null 2>&1 || fail "Icon=$icon is not installed"
  launchable=$(sed -n 's:.*<launchable type="desktop-id">\(.*\)</launchable>.*:\1:p' "$work"/root/usr/share/metainfo/*.metainfo.xml)
  [ "$launchable" = "$(basename "$desktop")" ] || fail "metainfo launches $launchable, package installs $(basename "$desktop")"
fi

if command -v lintian >/dev/null; then
  echo "== lintian"
  lintian --fail-on error "$deb" | tee "$work/lintian.txt" || fail "lintian reports errors"
else
  echo "(lintian not installed: skipped)"
fi
echo "OK"
