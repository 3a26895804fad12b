#!/usr/bin/env bash
# Checks the BR2_EXTERNAL tree `cargo ebpf-cross new` writes against a real
# Buildroot checkout, offline: configuration, olddefconfig, show-info and
# printvars. A developer's check, not CI's: CI has no Buildroot and this
# script never downloads one.
#
#   bash scripts/check-buildroot.sh BUILDROOT_DIR [WORK_DIR]
#
# BUILDROOT_DIR is a Buildroot source tree (git checkout or archive).
# WORK_DIR (default: a new temporary directory) gets the generated project
# and Buildroot's output directories; it must be outside this repository.
# The tool is taken from PATH, or from target/debug after a `cargo build`;
# with CHECK_BUILDROOT_HOST_TOOL=1, Buildroot builds it (host-cargo-ebpf-cross,
# from the repository's last commit, several minutes) for the package build.
#
# Buildroot runs with no network at all when `unshare -n` works (root, or
# unprivileged user namespaces), and BR2_DL_DIR is checked to hold no file
# at the end: nothing was fetched. With scripts/setup.sh's fixtures it then
# has Buildroot run the package's own build and install steps, with the
# build machine's cross tools and the Linux 4.19 fixture standing in for
# the toolchain and kernel Buildroot would build (and download) first.
# cargo vendor, before that, may read crates.io for the project's crates.
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: $0 BUILDROOT_DIR [WORK_DIR]" >&2
  exit 2
fi
br="$(cd "$1" && pwd)"
if [ ! -f "$br/Makefile" ] || [ ! -d "$br/package/rustc" ]; then
  echo "$br is not a Buildroot tree (no Makefile or package/rustc)" >&2
  exit 2
fi
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="${2:-$(mktemp -d)}"
mkdir -p "$work"
work="$(cd "$work" && pwd)"
case "$work/" in
  "$repo"/*) echo "WORK_DIR must be outside the repository ($repo)" >&2; exit 2 ;;
esac

if command -v cargo-ebpf-cross >/dev/null; then
  tool=cargo-ebpf-cross
elif [ -x "$repo/target/debug/cargo-ebpf-cross" ]; then
  tool="$repo/target/debug/cargo-ebpf-cross"
else
  echo "no cargo-ebpf-cross on PATH or in target/debug; run cargo build first" >&2
  exit 2
fi

# Without a network namespace the checks still run, but nothing then
# proves Buildroot did not reach out; the empty download dir still does.
offline=()
if unshare -n true 2>/dev/null; then
  offline=(unshare -n)
else
  echo "note: unshare -n is not available; running with the network up" >&2
fi

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# my_probe: a name whose Buildroot spelling differs (my-probe, MY_PROBE).
rm -rf "$work/my_probe"
"$tool" --color never new my_probe --target armv7 --path "$work/my_probe" >/dev/null
ext="$work/my_probe/buildroot"
dl="$work/dl"
mkdir -p "$dl"

brmake() {
  local out="$1"
  shift
  "${offline[@]}" make -s -C "$br" O="$out" "$@"
}

# Appends a fragment to a defconfig'd output dir and settles it.
configure() {
  local out="$1" fragment="$2"
  rm -rf "$out"
  brmake "$out" BR2_EXTERNAL="$ext" qemu_arm_vexpress_defconfig >/dev/null
  printf '%s\n' "BR2_DL_DIR=\"$dl\"" "$fragment" >>"$out/.config"
  brmake "$out" olddefconfig >/dev/null
}

has() {
  grep -qx -- "$2" "$1/.config" || fail "$1/.config lacks '$2'"
}

echo "== utils/check-package, Buildroot's own lint for package files"
lint_note="check-package"
# The first Python that has check-package's modules (a pyenv python3 on
# PATH may lack Debian's python3-magic).
lint_py=""
for py in python3 /usr/bin/python3; do
  if "$py" -c 'import magic, flake8' 2>/dev/null; then
    lint_py="$py"
    break
  fi
done
if [ -n "$lint_py" ]; then
  (cd "$ext" && find . -type f -print0 | sort -z | xargs -0 "$lint_py" "$br/utils/check-package" -b) \
    >"$work/check-package.log" 2>&1 || { cat "$work/check-package.log" >&2; fail "check-package found problems"; }
  cat "$work/check-package.log"
  grep -q '^0 warnings generated$' "$work/check-package.log" || fail "check-package warned"
  lint_note="$lint_note passed"
else
  lint_note="$lint_note was skipped: it needs Python's magic and flake8 (Debian: python3-magic python3-flake8)"
  echo "note: $lint_note" >&2
fi

echo "== glibc, kernel, the package and CO-RE support"
out="$work/out-glibc"
configure "$out" 'BR2_TOOLCHAIN_BUILDROOT_GLIBC=y
BR2_PACKAGE_MY_PROBE=y
BR2_PACKAGE_MY_PROBE_CORE=y'
for line in BR2_EXTERNAL_NAMES=\"MY_PROBE\" BR2_TOOLCHAIN_USES_GLIBC=y BR2_LINUX_KERNEL=y \
  BR2_PACKAGE_HOST_RUSTC=y BR2_PACKAGE_MY_PROBE=y BR2_PACKAGE_MY_PROBE_TARGET=\"armv7\" \
  BR2_PACKAGE_MY_PROBE_CORE=y BR2_LINUX_KERNEL_NEEDS_HOST_PAHOLE=y; do
  has "$out" "$line"
done
grep -E '^BR2_(EXTERNAL_NAMES|TOOLCHAIN_USES_GLIBC|LINUX_KERNEL|PACKAGE_HOST_RUSTC|PACKAGE_MY_PROBE[A-Z_]*|LINUX_KERNEL_NEEDS_HOST_PAHOLE)=' "$out/.config"

echo "== olddefconfig again keeps it"
brmake "$out" olddefconfig >/dev/null
has "$out" BR2_PACKAGE_MY_PROBE=y

echo "== show-info"
brmake "$out" my-probe-show-info host-cargo-ebpf-cross-show-info >"$work/show-info.json"
python3 - "$work/show-info.json" <<'EOF'
import json, sys
text = open(sys.argv[1]).read()
# Each show-info target prints one JSON object; two targets print two.
decoder, info, at = json.JSONDecoder(), {}, 0
while at < len(text):
    if text[at].isspace():
        at += 1
        continue
    obj, at = decoder.raw_decode(text, at)
    info.update(obj)
pkg, host = info["my-probe"], info["host-cargo-ebpf-cross"]
for want in ("linux", "host-cargo-ebpf-cross", "host-rustc", "host-libbpf"):
    assert want in pkg["dependencies"], f"my-probe lacks {want}: {pkg['dependencies']}"
assert pkg["type"] == "target", pkg["type"]
assert host["type"] == "host", host["type"]
assert "host-rustc" in host["dependencies"], host["dependencies"]
print("my-probe:", pkg["type"], "dependencies", pkg["dependencies"])
print("host-cargo-ebpf-cross:", host["type"], "dependencies", host["dependencies"])
print("my-probe downloads:", [d["source"] for d in pkg["downloads"]])
EOF

echo "== printvars"
brmake "$out" printvars VARS='MY_PROBE_BUILD_CMDS MY_PROBE_INSTALL_TARGET_CMDS MY_PROBE_LINUX_CONFIG_FIXUPS HOST_CARGO_EBPF_CROSS_CARGO_BUILD_OPTS' >"$work/printvars.txt"
linux_dir="$(brmake "$out" printvars VARS=LINUX_DIR | sed -n 's/^LINUX_DIR=//p')"
[ -n "$linux_dir" ] || fail "Buildroot printed no LINUX_DIR"
build="$(grep '^MY_PROBE_BUILD_CMDS=' "$work/printvars.txt")"
for want in "$out/host/bin/cargo-ebpf-cross build --target 'armv7'" \
  "--kernel-src $linux_dir --kernel-build $linux_dir" \
  "--rust-target armv7-unknown-linux-gnueabihf" "--release --frozen --no-rustup" \
  "CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_LINKER=arm-buildroot-linux-gnueabihf-gcc" \
  "--static=false"; do
  case "$build" in *"$want"*) ;; *) fail "MY_PROBE_BUILD_CMDS lacks '$want'" ;; esac
done
install="$(grep '^MY_PROBE_INSTALL_TARGET_CMDS=' "$work/printvars.txt")"
case "$install" in
  *"cargo-ebpf-cross install --target 'armv7'"*"--destdir $out/target --bindir /usr/bin --datadir /usr/share"*) ;;
  *) fail "MY_PROBE_INSTALL_TARGET_CMDS: $install" ;;
esac
fixups="$(sed -n '/^MY_PROBE_LINUX_CONFIG_FIXUPS=/,/^[A-Z_]*=/p' "$work/printvars.txt")"
for opt in BPF_SYSCALL KPROBES KPROBE_EVENTS BPF_EVENTS DEBUG_FS DEBUG_INFO_BTF; do
  grep -q "echo 'CONFIG_$opt=y'" <<<"$fixups" || fail "the kernel fixups lack CONFIG_$opt"
done
grep -q '^HOST_CARGO_EBPF_CROSS_CARGO_BUILD_OPTS=--no-default-features$' "$work/printvars.txt" \
  || fail "host-cargo-ebpf-cross is not built --no-default-features"
echo "LINUX_DIR=$linux_dir"
sed 's/^\(.\{300\}\).*/\1 .../' "$work/printvars.txt"

# Kconfig writes the comments it shows into .config.
comment='# my-probe needs a glibc or musl toolchain and a Linux kernel'
if grep -qx -- "$comment" "$out/.config"; then
  fail "the package's comment shows although it is selectable"
fi

echo "== uClibc-ng (Buildroot's default) hides the package"
out_uclibc="$work/out-uclibc"
configure "$out_uclibc" 'BR2_TOOLCHAIN_BUILDROOT_UCLIBC=y
BR2_PACKAGE_MY_PROBE=y'
has "$out_uclibc" BR2_TOOLCHAIN_USES_UCLIBC=y
if grep -q '^BR2_PACKAGE_MY_PROBE=y' "$out_uclibc/.config"; then
  fail "the package stayed selected on uClibc-ng"
fi
echo "BR2_PACKAGE_MY_PROBE is not set"
has "$out_uclibc" "$comment"

echo "== without a kernel the package is hidden too"
out_nokernel="$work/out-nokernel"
configure "$out_nokernel" 'BR2_TOOLCHAIN_BUILDROOT_GLIBC=y
# BR2_LINUX_KERNEL is not set
BR2_PACKAGE_MY_PROBE=y'
if grep -q '^BR2_PACKAGE_MY_PROBE=y' "$out_nokernel/.config"; then
  fail "the package stayed selected without BR2_LINUX_KERNEL"
fi
echo "BR2_PACKAGE_MY_PROBE is not set"
has "$out_nokernel" "$comment"
echo "$comment"

# Buildroot runs the package's own steps: the project's source through
# MY_PROBE_OVERRIDE_SRCDIR (with its crates vendored, as the download step
# would), its dependencies' steps skipped by emptying its dependency lists
# on the command line, and in their place what they would have left: the
# build machine's arm-linux-gnueabihf tools under the toolchain's names in
# HOST_DIR/bin, the tool as host-cargo-ebpf-cross installs it, and the
# fixtures' Linux 4.19 tree, joined into one, at LINUX_DIR.
fixtures="${EBPF_CROSS_FIXTURES:-$repo/.fixtures}"
build_note="the package's build and install by Buildroot"
if [ -f "$fixtures/env.sh" ] && command -v arm-linux-gnueabihf-gcc >/dev/null \
  && command -v clang-14 >/dev/null && command -v rsync >/dev/null; then
  # shellcheck source=/dev/null
  . "$fixtures/env.sh"
  echo "== Buildroot builds and installs the package (Linux 4.19 fixture, stand-in toolchain)"
  project="$work/my_probe"
  # The example's lock has the same dependencies; cargo settles the order.
  sed 's/^name = "open-example"$/name = "my_probe"/' "$repo/examples/open-example/Cargo.lock" >"$project/Cargo.lock"
  (cd "$project" && cargo metadata --offline --format-version 1 >/dev/null)
  mkdir -p "$project/.cargo"
  # Not --quiet: that drops the config cargo vendor prints.
  (cd "$project" && cargo vendor --locked VENDOR >.cargo/config.toml.new 2>"$work/vendor.log") \
    || fail "cargo vendor: $(cat "$work/vendor.log")"
  mv "$project/.cargo/config.toml.new" "$project/.cargo/config.toml"
  grep -q 'directory = "VENDOR"' "$project/.cargo/config.toml" || fail "cargo vendor wrote no source config"

  out_run="$work/out-run"
  configure "$out_run" 'BR2_TOOLCHAIN_BUILDROOT_GLIBC=y
BR2_PACKAGE_MY_PROBE=y
BR2_PACKAGE_MY_PROBE_CLANG="clang-14"
BR2_PACKAGE_MY_PROBE_LLC="llc-14"'
  printf 'MY_PROBE_OVERRIDE_SRCDIR = %s\n' "$project" >"$out_run/local.mk"
  vars="$(brmake "$out_run" printvars VARS='TARGET_CROSS LINUX_DIR HOST_DIR TARGET_DIR')"
  get() { sed -n "s/^$1=//p" <<<"$vars"; }
  cross="$(get TARGET_CROSS)" linux="$(get LINUX_DIR)" host="$(get HOST_DIR)" target="$(get TARGET_DIR)"
  mkdir -p "$host/bin" "$target" "$linux"
  for t in gcc cpp ld as ar nm ranlib gcc-ar gcc-nm gcc-ranlib readelf strip objcopy objdump; do
    if [ -e "/usr/bin/arm-linux-gnueabihf-$t" ]; then
      ln -sf "/usr/bin/arm-linux-gnueabihf-$t" "$cross$t"
    fi
  done
  if [ "${CHECK_BUILDROOT_HOST_TOOL:-0}" = 1 ]; then
    # Buildroot builds host-cargo-ebpf-cross itself, from this repository's
    # last commit, with its crates vendored as its download step would.
    echo "== Buildroot builds and installs host-cargo-ebpf-cross (HEAD of $repo)"
    toolsrc="$work/cargo-ebpf-cross-src"
    rm -rf "$toolsrc"
    mkdir -p "$toolsrc/.cargo"
    git -C "$repo" archive HEAD | tar -x -C "$toolsrc"
    (cd "$toolsrc" && cargo vendor --locked VENDOR >.cargo/config.toml 2>"$work/vendor-tool.log") \
      || fail "cargo vendor of the tool: $(cat "$work/vendor-tool.log")"
    printf 'CARGO_EBPF_CROSS_OVERRIDE_SRCDIR = %s\n' "$toolsrc" >>"$out_run/local.mk"
    brmake "$out_run" HOST_CARGO_EBPF_CROSS_FINAL_DEPENDENCIES= \
      HOST_CARGO_EBPF_CROSS_FINAL_DOWNLOAD_DEPENDENCIES= host-cargo-ebpf-cross \
      >"$work/build-tool.log" 2>&1 \
      || { tail -30 "$work/build-tool.log" >&2; fail "make host-cargo-ebpf-cross failed (log: $work/build-tool.log)"; }
    grep -a '>>> host-cargo-ebpf-cross\|Installed package' "$work/build-tool.log" | sed 's/\x1b\[[0-9]*m//g'
    [ -x "$host/bin/cargo-ebpf-cross" ] || fail "no $host/bin/cargo-ebpf-cross"
    build_note="host-cargo-ebpf-cross's build by Buildroot passed; $build_note"
  else
    ln -sf "$(command -v "$tool")" "$host/bin/cargo-ebpf-cross"
  fi
  cp -rs "$EBPF_CROSS_V419_SRC/." "$linux/"
  cp -rs --remove-destination "$EBPF_CROSS_V419_BUILD/." "$linux/"
  # A split build dir's Makefile only forwards to the source's.
  ln -sf "$EBPF_CROSS_V419_SRC/Makefile" "$linux/Makefile"

  brmake "$out_run" MY_PROBE_FINAL_DEPENDENCIES= MY_PROBE_FINAL_DOWNLOAD_DEPENDENCIES= my-probe \
    >"$work/build.log" 2>&1 || { tail -30 "$work/build.log" >&2; fail "make my-probe failed (log: $work/build.log)"; }
  grep -a '>>> my-probe' "$work/build.log" | sed 's/\x1b\[[0-9]*m//g'
  # .stamp_installed comes after Buildroot's check-bin-arch of the files
  # the package installed.
  [ -f "$out_run/build/my-probe-custom/.stamp_installed" ] || fail "no .stamp_installed"
  listing="$(cd "$target" && find . -type f | sort)"
  want='./usr/bin/my_probe
./usr/share/ebpf/my_probe/manifest.json
./usr/share/ebpf/my_probe/my_probe.o'
  [ "$listing" = "$want" ] || fail "TARGET_DIR holds: $listing"
  machine() { "${cross}readelf" -h "$1" | sed -n 's/^  Machine: *//p'; }
  [ "$(machine "$target/usr/bin/my_probe")" = ARM ] || fail "the loader is not ARM"
  [ "$(machine "$target/usr/share/ebpf/my_probe/my_probe.o")" = "Linux BPF" ] || fail "the object is not BPF"
  grep -q '"kernel_version": "4.19.131"' "$target/usr/share/ebpf/my_probe/manifest.json" \
    || fail "the manifest does not name 4.19.131"
  echo "$listing"
  file "$target/usr/bin/my_probe" "$target/usr/share/ebpf/my_probe/my_probe.o" | sed "s|$target||"
  build_note="$build_note passed"
else
  build_note="$build_note was skipped: it needs scripts/setup.sh's fixtures ($fixtures/env.sh), arm-linux-gnueabihf-gcc, clang-14 and rsync"
  echo "note: $build_note" >&2
fi

# cargo makes Buildroot's CARGO_HOME and its lock files (.package-cache,
# .global-cache); a crate it fetched would be under registry/ or git/.
fetched="$(find "$dl" -type f ! -path "$dl/br-cargo-home/.*")"
if [ -n "$fetched" ]; then
  fail "Buildroot downloaded into $dl: $(head <<<"$fetched")"
fi
echo "== nothing downloaded (no file in $dl but cargo's lock files)"
echo "check-buildroot: all passed; $lint_note; $build_note (Buildroot $("${offline[@]}" make -s -C "$br" print-version), work dir $work)"
