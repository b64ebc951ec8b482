#!/usr/bin/env bash
# Every publishable crate packages on its own, so it builds from crates.io as it does
# here:
#   1. `cargo package --workspace --no-verify` succeeds (versions on path
#      dependencies, manifests that packaging accepts);
#   2. every file a crate embeds at compile time (`include_str!`, `include_bytes!`,
#      `include!` with a literal path, `#[doc = include_str!(…)]` guides included)
#      in its src/ or build.rs is in that crate's package (`cargo package --list`).
#      `--no-verify` does not compile the packages, so this is what catches a crate
#      reaching into another crate's folder.
#
# Usage: scripts/package-check.sh   (run by scripts/test.sh; ~30 s, needs crates.io)
set -euo pipefail

# shellcheck source=lib/common.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$ROOT"

log "cargo package --workspace --no-verify"
cargo package --workspace --no-verify --allow-dirty --quiet 2>&1 |
  grep -v -e 'manifest has no documentation' -e '^  |' -e '^  = note' || true
# The pipeline hides cargo's exit status: check it again, loudly this time.
cargo package --workspace --no-verify --allow-dirty --quiet >/dev/null 2>&1 ||
  die "cargo package --workspace --no-verify failed (run it to see why)"

problems=0
checked=0
for manifest in crates/*/Cargo.toml; do
  dir="$(dirname "$manifest")"
  name="$(sed -n 's/^name = "\(.*\)"$/\1/p' "$manifest" | head -n 1)"
  if grep -Eq '^publish *= *false' "$manifest"; then
    continue
  fi
  listed="$(cargo package -p "$name" --list --allow-dirty 2>/dev/null)" ||
    die "cargo package -p $name --list failed"
  sources=("$dir/src")
  [ -f "$dir/build.rs" ] && sources+=("$dir/build.rs")
  # file:line:include_xxx!("path")
  while IFS= read -r hit; do
    file="${hit%%:*}"
    rest="${hit#*:}"
    line="${rest%%:*}"
    path="$(printf '%s' "$rest" | sed -E 's/^[0-9]+:include(_str|_bytes)?!\("([^"]+)"\)$/\2/')"
    resolved="$(realpath -m -s --relative-to="$dir" "$(dirname "$file")/$path")"
    checked=$((checked + 1))
    if ! grep -qxF -- "$resolved" <<<"$listed"; then
      printf 'error: %s:%s embeds %s, which is not in the %s package (%s)\n' \
        "$file" "$line" "$path" "$name" "$resolved" >&2
      problems=$((problems + 1))
    fi
  done < <(grep -rnoE 'include(_str|_bytes)?!\("[^"]+"\)' "${sources[@]}" --include='*.rs' || true)
done

[ "$problems" -eq 0 ] || die "$problems embedded file(s) outside their crate's package: move them into the crate (or link them there)"
log "every crate packages; $checked embedded files are inside their packages"
