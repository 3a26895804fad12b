# ebpf-cross.bbclass: build "BPF C objects + a Rust loader" with cargo ebpf-cross
#
# A recipe that inherits this class builds a cargo ebpf-cross project (one
# whose Cargo.toml has [package.metadata.ebpf-cross]). The BPF objects are
# compiled against the kernel this image is built with, and the loader is
# built with this recipe's own cross toolchain. Everything is installed in
# one package:
#   ${bindir}/<loader>                 the loader
#   ${datadir}/ebpf/${PN}/*.bpf.o      the BPF objects
#
# The recipe sets EBPF_CROSS_TARGET to a cargo ebpf-cross profile: a
# built-in name such as "armv7" or "aarch64", or a board file in the
# project such as "boards/myboard.toml".
#
# Needs: meta-clang (clang-native, whose clang and llc are used for BPF),
# and a cargo-ebpf-cross-native recipe. That recipe is not part of these
# templates. Written for oe-core scarthgap (5.0) and later, where target
# Rust comes from rust-native + libstd-rs.

# rust-common (and the rust-target-config class it pulls in) provides:
#   RUST_TARGET_SYS   the Rust name of this recipe's target, e.g.
#                     armv7-poky-linux-gnueabihf
#   RUST_TARGET_PATH  the directory holding that target's spec JSON
#                     (written by do_rust_gen_targets)
#   RUST_*_CCLD       single-binary linker wrappers
#                     (written by do_rust_create_wrappers)
inherit rust-common

DEPENDS:append = " cargo-native rust-native ${RUSTLIB_DEP} clang-native cargo-ebpf-cross-native"

# The objects are built against this MACHINE's kernel, which makes the
# package machine-specific, just like a kernel module.
PACKAGE_ARCH = "${MACHINE_ARCH}"

# do_shared_workdir fills STAGING_KERNEL_BUILDDIR with what a BPF compile
# reads from a configured tree: .config, include/generated and
# arch/*/include/generated. It runs after the kernel's do_compile, so by
# then the source tree in STAGING_KERNEL_DIR, which includes
# tools/testing/selftests/bpf on older kernels, is complete.
do_compile[depends] += "virtual/kernel:do_shared_workdir"

# The kernel tree. OE builds the kernel with O=, so it is split: source in
# one place, generated files in another. cargo ebpf-cross reads both
# variables and ranks them above the profile's [kernel] section.
export EBPF_CROSS_KERNEL_SRC = "${STAGING_KERNEL_DIR}"
export EBPF_CROSS_KERNEL_BUILD = "${STAGING_KERNEL_BUILDDIR}"

# A profile name or board file (see above). The recipe has to set it.
EBPF_CROSS_TARGET ??= ""
# The Rust target for the loader is this recipe's own, not the built-in
# profile's (armv7-unknown-linux-gnueabihf etc.). Rust has no such target
# built in; cargo finds its spec through RUST_TARGET_PATH.
EBPF_CROSS_RUST_TARGET ?= "${RUST_TARGET_SYS}"
# Set to 0 if the project's Cargo.toml says `static = false`.
EBPF_CROSS_STATIC ?= "1"
# Crates committed with `cargo vendor`: no network after do_fetch.
EBPF_CROSS_VENDOR_DIR ?= "${S}/vendor"
# Git dependencies also need the [source."git+..."] stanzas that
# `cargo vendor` prints. Commit those in the project's .cargo/config.toml,
# which cargo reads together with the config written below.

# The C compiler for build scripts and cc-built code of the loader, with
# the sysroot (TOOLCHAIN_OPTIONS) and the tune flags (TARGET_CC_ARCH).
EBPF_CROSS_TARGET_CC ?= "${TARGET_PREFIX}gcc ${TOOLCHAIN_OPTIONS} ${TARGET_CC_ARCH}"

B = "${WORKDIR}/build"
# Keep cargo and the tool away from $HOME, which bitbake does not own.
export CARGO_HOME = "${WORKDIR}/cargo_home"
export EBPF_CROSS_CACHE_DIR = "${WORKDIR}/ebpf-cross-cache"
export CARGO_NET_OFFLINE = "true"
# Pin the BPF toolchain to clang-native, not whatever clang the host has.
export CLANG = "${STAGING_BINDIR_NATIVE}/clang"
export LLC = "${STAGING_BINDIR_NATIVE}/llc"
# Let OE strip and split the loader (-dbg package), even if the project's
# release profile says `strip = true`; otherwise QA stops on
# "already-stripped".
export CARGO_PROFILE_RELEASE_STRIP = "false"

ebpf_cross_do_configure() {
	mkdir -p ${CARGO_HOME}
	# Offline, from the vendored crates only. The linkers are OE's
	# wrappers: the build host's for build scripts, the recipe's own
	# for the loader (its LDFLAGS and --sysroot included).
	cat >${CARGO_HOME}/config.toml <<-EOF
		[source.crates-io]
		replace-with = "vendored-sources"

		[source.vendored-sources]
		directory = "${EBPF_CROSS_VENDOR_DIR}"

		[net]
		offline = true

		[target.${RUST_BUILD_SYS}]
		linker = "${RUST_BUILD_CCLD}"

		[target.$(basename "${EBPF_CROSS_RUST_TARGET}" .json)]
		linker = "${RUST_TARGET_CCLD}"
	EOF
}

# Remove bundles from earlier builds, so do_install finds exactly one.
do_compile[cleandirs] = "${B}/target/ebpf-cross"
ebpf_cross_do_compile() {
	[ -n "${EBPF_CROSS_TARGET}" ] || bbfatal "set EBPF_CROSS_TARGET (e.g. armv7, aarch64, boards/<board>.toml)"
	[ -d "${EBPF_CROSS_VENDOR_DIR}" ] || bbfatal "no vendored crates in ${EBPF_CROSS_VENDOR_DIR}: run 'cargo vendor' in the project and commit it"

	# cc-rs looks for CC_<triple>, where the triple has dashes turned
	# into underscores. A spec file's triple is its file name.
	triple=$(basename "${EBPF_CROSS_RUST_TARGET}" .json | tr - _)
	export "CC_${triple}=${EBPF_CROSS_TARGET_CC}"
	export "AR_${triple}=${AR}"
	# Host-side C code (build scripts) must not get the target compiler
	# that OE exports as CC.
	export HOST_CC="${RUST_BUILD_CC}"
	export HOST_AR="${BUILD_AR}"
	# Carries -L to the target's libstd-rs and --remap-path-prefix
	# (both from rust-common).
	export RUSTFLAGS="${RUSTFLAGS}"

	cd ${S}
	cargo ebpf-cross build \
		--target "${EBPF_CROSS_TARGET}" \
		--rust-target "${EBPF_CROSS_RUST_TARGET}" \
		--release --frozen --no-rustup \
		--target-dir "${B}/target"
}

ebpf_cross_do_install() {
	set -- ${B}/target/ebpf-cross/*/*.tar.gz
	[ $# -eq 1 ] && [ -f "$1" ] || bbfatal "expected one bundle under ${B}/target/ebpf-cross, found: $*"
	cargo ebpf-cross install \
		--target "${EBPF_CROSS_TARGET}" \
		--bundle "$1" \
		--destdir "${D}" \
		--bindir "${bindir}" \
		--datadir "${datadir}/ebpf/${PN}"
}

FILES:${PN} += "${datadir}/ebpf"

# A static loader (crt-static) is linked without OE's LDFLAGS, so it has no
# GNU_HASH, which the ldflags check asks for.
INSANE_SKIP:${PN} += "${@'ldflags' if d.getVar('EBPF_CROSS_STATIC') == '1' else ''}"
# oe-core releases whose insane.bbclass does not yet exempt BPF objects
# (ELF machine BPF, 64-bit) from the "arch" check need this line too. Be
# aware that it also hides a loader built for the wrong arch:
# INSANE_SKIP:${PN} += "arch"

EXPORT_FUNCTIONS do_configure do_compile do_install
