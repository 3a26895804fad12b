# ebpf-cross.bbclass: build a cargo ebpf-cross project (BPF C objects plus a
# Rust loader) against this image's kernel, with this recipe's toolchain.
#
# Installs, in ${PN}:
#   ${bindir}/<loader>
#   ${datadir}/ebpf/<package>/<program>.o and manifest.json
#
# The recipe sets EBPF_CROSS_TARGET to a cargo ebpf-cross profile: a built-in
# ("armv7", "aarch64", ...) or a board file of the project
# ("boards/myboard.toml"). Crates come from `cargo vendor`, committed in the
# project (EBPF_CROSS_VENDOR_DIR): the build never touches the network.
#
# Needs clang-native (meta-clang) for the BPF side and a
# cargo-ebpf-cross-native recipe, which these templates do not provide.
# bitbake is not run by this project's tests; tests/yocto.rs runs the same
# commands with the same environment on a Debian kernel tree instead.

# RUST_TARGET_SYS (e.g. arm-poky-linux-gnueabi), RUSTFLAGS with -L to the
# target's libstd-rs, the RUST_TARGET_PATH that holds its spec, and the
# RUST_BUILD_* wrappers for the build host.
inherit rust-common

DEPENDS:append = " cargo-native rust-native ${RUSTLIB_DEP} clang-native cargo-ebpf-cross-native"

# The objects are compiled against this MACHINE's kernel, like a module.
PACKAGE_ARCH = "${MACHINE_ARCH}"

# do_shared_workdir stages the kernel's build output (.config, generated
# headers) in STAGING_KERNEL_BUILDDIR; the source is in STAGING_KERNEL_DIR.
do_compile[depends] += "virtual/kernel:do_shared_workdir"
export EBPF_CROSS_KERNEL_SRC = "${STAGING_KERNEL_DIR}"
export EBPF_CROSS_KERNEL_BUILD = "${STAGING_KERNEL_BUILDDIR}"
# The kernel version is read from that tree: no EBPF_CROSS_KERNEL_VERSION.

EBPF_CROSS_TARGET ??= ""
EBPF_CROSS_VENDOR_DIR ??= "${S}/vendor"
# The loader's compiler and linker: the recipe's cross gcc with its tune
# flags and --sysroot (in TOOLCHAIN_OPTIONS). cargo ebpf-cross takes the
# first word as the linker and passes the rest as link args.
EBPF_CROSS_CC ??= "${TARGET_PREFIX}gcc ${TARGET_CC_ARCH} ${TOOLCHAIN_OPTIONS}"
# Set to 0 when Cargo.toml says `static = false` (see INSANE_SKIP below).
EBPF_CROSS_STATIC ??= "1"

B = "${WORKDIR}/build"
export CARGO_HOME = "${WORKDIR}/cargo_home"
export CARGO_NET_OFFLINE = "true"
# The BPF compiler is clang-native, never the build host's clang.
export CLANG = "${STAGING_BINDIR_NATIVE}/clang"
export LLC = "${STAGING_BINDIR_NATIVE}/llc"
# OE strips and splits the loader itself (-dbg); a stripped one fails QA.
export CARGO_PROFILE_RELEASE_STRIP = "false"

ebpf_cross_do_configure() {
	mkdir -p ${CARGO_HOME}
	# No target linker here on purpose: it would outrank CC_<triple> below.
	# (A recipe that also inherits cargo_common gets OE's linker wrapper in
	# its config, and cargo ebpf-cross then uses that, which works as well.)
	cat >${CARGO_HOME}/config.toml <<-EOF
		[source.crates-io]
		replace-with = "vendored-sources"

		[source.vendored-sources]
		directory = "${EBPF_CROSS_VENDOR_DIR}"

		[target.${RUST_BUILD_SYS}]
		linker = "${RUST_BUILD_CCLD}"
	EOF
}

ebpf_cross_do_compile() {
	[ -n "${EBPF_CROSS_TARGET}" ] || bbfatal "set EBPF_CROSS_TARGET (armv7, aarch64, boards/<board>.toml, ...)"
	[ -d "${EBPF_CROSS_VENDOR_DIR}" ] || bbfatal "no crates in ${EBPF_CROSS_VENDOR_DIR}: run 'cargo vendor' in the project and commit vendor/"
	# cc-rs and cargo ebpf-cross both read CC_<triple>, dashes as underscores.
	export "CC_$(echo ${RUST_TARGET_SYS} | tr - _)=${EBPF_CROSS_CC}"
	# Build scripts are host code: keep them off the target CC that OE exports.
	export HOST_CC="${RUST_BUILD_CC}"
	export RUSTFLAGS="${RUSTFLAGS}"
	cd ${S}
	cargo-ebpf-cross build --target "${EBPF_CROSS_TARGET}" --rust-target "${RUST_TARGET_SYS}" \
		--release --frozen --no-rustup --target-dir "${B}/target"
}

ebpf_cross_do_install() {
	cd ${S}
	cargo-ebpf-cross install --target "${EBPF_CROSS_TARGET}" --target-dir "${B}/target" \
		--destdir "${D}" --bindir "${bindir}" --datadir "${datadir}"
}

FILES:${PN} += "${datadir}/ebpf"

# A static loader is linked without OE's LDFLAGS, so it has no GNU_HASH.
INSANE_SKIP:${PN} += "${@'ldflags' if d.getVar('EBPF_CROSS_STATIC') == '1' else ''}"

EXPORT_FUNCTIONS do_configure do_compile do_install
