# The task chain of oe-core's base class, and nothing else, so a recipe's
# tasks and their order can be asserted.

def minimal_bpn(d):
    pn = d.getVar("PN")
    for suffix in d.getVar("SPECIAL_PKGSUFFIX").split():
        if pn.endswith(suffix):
            pn = pn[:-len(suffix)]
    return pn

do_fetch() {
	:
}
addtask fetch
do_unpack() {
	:
}
addtask unpack after do_fetch
do_patch() {
	:
}
addtask patch after do_unpack
do_prepare_recipe_sysroot() {
	:
}
addtask prepare_recipe_sysroot before do_configure after do_fetch

base_do_configure() {
	:
}
addtask configure after do_patch
base_do_compile() {
	:
}
addtask compile after do_configure
base_do_install() {
	:
}
addtask install after do_compile
do_build() {
	:
}
addtask build after do_install

EXPORT_FUNCTIONS do_configure do_compile do_install
