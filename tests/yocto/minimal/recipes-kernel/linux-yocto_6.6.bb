# A stand-in for oe-core's linux-yocto, so the generated layer's
# linux-yocto_%.bbappend is parsed the way bitbake applies it: after the
# recipe, with THISDIR being the append's own dir.
SUMMARY = "linux-yocto stand-in"
LICENSE = "GPL-2.0-only"
SRC_URI = "git://git.yoctoproject.org/linux-yocto.git;branch=v6.6/standard/base;name=machine"
