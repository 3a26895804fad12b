# Stand-in for oe-core's cargo class: cargo_common plus build and install
# tasks running cargo with CARGO_BUILD_FLAGS.
inherit cargo_common

B = "${WORKDIR}/build"

cargo_do_compile() {
	cargo build ${CARGO_BUILD_FLAGS}
}

cargo_do_install() {
	install -d ${D}${bindir}
}

EXPORT_FUNCTIONS do_compile do_install
