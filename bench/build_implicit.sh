#!/usr/bin/env bash
# Build the implicit library (ALS reference of bench/als.sh and bench/scale.sh)
# from a source checkout OUTSIDE this repository, with Debian's Python and
# build packages, the CPU extension only:
#
#   bash bench/build_implicit.sh SRC [DEST]
#
# SRC: a checkout of https://github.com/benfred/implicit at tag v0.7.2 (the
# version the issues measured).  DEST (default /var/tmp/implicit-<version>) is
# a copy built in place; pass it as IMPLICIT_PATH to the benchmarks.  Nothing
# is written into the repository.
set -euo pipefail
SRC=${1:?usage: bash bench/build_implicit.sh SRC [DEST]}
[[ -f $SRC/setup.py && -d $SRC/implicit ]] || { echo "$SRC is not an implicit source tree" >&2; exit 2; }
VERSION=$(sed -nE 's/^ *version="([^"]+)".*/\1/p' "$SRC/setup.py" | head -n 1)
DEST=${2:-/var/tmp/implicit-$VERSION}
case $(cd "$(dirname "$DEST")" 2>/dev/null && pwd)/ in
    "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"/*) echo "DEST must lie outside the repository" >&2; exit 2 ;;
esac
pkgs=(python3-skbuild cython3 python3-scipy python3-numpy python3-tqdm python3-threadpoolctl ninja-build cmake g++)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [[ ${#missing[@]} -gt 0 ]]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
fi
rm -rf "$DEST"
mkdir -p "$DEST"
cp -a "$SRC"/. "$DEST"/
rm -rf "$DEST/.git" "$DEST/_skbuild"
# no GPU extension: it downloads rapids-cmake at configure time (no internet here)
(cd "$DEST" && IMPLICIT_DISABLE_CUDA=1 /usr/bin/python3 setup.py build_ext --inplace >"$DEST/build.log" 2>&1) \
    || { tail -n 30 "$DEST/build.log" >&2; exit 1; }
PYTHONPATH=$DEST /usr/bin/python3 -c "import implicit.cpu.als, implicit; print('implicit', implicit.__version__, 'built in $DEST')"
