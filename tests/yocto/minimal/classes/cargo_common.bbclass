# Stand-in for oe-core's cargo_common: the names the ebpf_cross class relies
# on (CARGO_HOME, CARGO_MANIFEST_PATH, RUST_HOST_SYS, RUSTFLAGS, the
# configure task that writes the cargo config, oe_cargo_fix_env before
# do_compile), with fixed values. The real class is used under real bitbake.

BASEDEPENDS:append = " cargo-native"
RUSTLIB_DEP ??= "libstd-rs"
DEPENDS:append = " rust-native ${RUSTLIB_DEP}"

RUST_HOST_SYS = "arm-poky-linux-gnueabi"
RUST_BUILD_SYS = "x86_64-unknown-linux-gnu"
RUSTFLAGS ??= ""
RUSTFLAGS += "-L ${STAGING_DIR_HOST}${libdir}/rustlib"
export CARGO_HOME = "${UNPACKDIR}/cargo_home"
CARGO_VENDORING_DIRECTORY ??= "${CARGO_HOME}/bitbake"
CARGO_SRC_DIR ??= ""
CARGO_MANIFEST_PATH ??= "${S}/${CARGO_SRC_DIR}/Cargo.toml"
CARGO_BUILD_FLAGS = "-v --frozen --target ${RUST_HOST_SYS} --manifest-path=${CARGO_MANIFEST_PATH}"

cargo_common_do_configure() {
	mkdir -p ${CARGO_HOME}
}

oe_cargo_fix_env() {
	export CC="${WORKDIR}/wrapper/target-rust-cc"
}

do_compile:prepend() {
	oe_cargo_fix_env
}

EXPORT_FUNCTIONS do_configure
