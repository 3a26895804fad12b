#!/usr/bin/env python3
"""Parse a layer that `cargo ebpf-cross new` generated with bitbake's own
`bb` library (from PyPI's bitbake-setup), against the minimal configuration
in tests/yocto/minimal, and print what bitbake made of it.

    parse_layer.py MINIMAL_DIR LAYER_DIR [TCLIBC]

Each line printed is `recipe-variant: NAME = VALUE`, in a fixed order, so
tests/yocto.rs compares the whole output with what it expects. Any parse
error (bad syntax, a dash in a class that exports shell functions, a
missing -crates.inc) makes bb raise, and this script exits non-zero.
"""

import glob
import hashlib
import logging
import os
import sys

try:
    import hashserv  # noqa: F401
except ImportError:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "stubs"))

import bb
import bb.data
import bb.event
import bb.parse
import bb.utils


def config(minimal, layer, tclibc):
    """What cooker does before any recipe: bitbake.conf, each layer's
    layer.conf with LAYERDIR set, then the base class."""
    d = bb.data.init()
    d.setVar("BBPATH", minimal)
    d.setVar("TCLIBC", tclibc)
    d = bb.parse.handle(os.path.join(minimal, "conf/bitbake.conf"), d, True)
    d.setVar("LAYERDIR", layer)
    d = bb.parse.handle(os.path.join(layer, "conf/layer.conf"), d, True)
    d.expandVarref("LAYERDIR")
    d.delVar("LAYERDIR")
    # Cooker inherits global classes from classes-global/, then looks up
    # recipes' inherits in classes-recipe/ before classes/.
    d.setVar("__bbclasstype", "global")
    bb.parse.BBHandler.inherit("base", "configuration INHERITs", 0, d)
    d.setVar("__bbclasstype", "recipe")
    bb.data.expandKeys(d)
    bb.parse.init_parser(d)
    return d


def lic_md5(path, params):
    """The md5 insane.bbclass computes for one LIC_FILES_CHKSUM entry."""
    begin = int(params.get("beginline", 0))
    end = int(params.get("endline", 0))
    m = hashlib.md5()
    with open(path, "rb") as f:
        for n, line in enumerate(f, 1):
            if n >= begin and (not end or n <= end):
                m.update(line)
    return m.hexdigest()


def lic_check(d, srcdir):
    """Each LIC_FILES_CHKSUM file, found under srcdir, with its md5 right."""
    out = []
    for url in (d.getVar("LIC_FILES_CHKSUM") or "").split():
        path, _, rest = url.partition(";")
        params = dict(p.split("=", 1) for p in rest.split(";") if p)
        rel = path[len("file://"):]
        full = os.path.join(srcdir, rel)
        ok = os.path.isfile(full) and lic_md5(full, params) == params.get("md5")
        out.append("%s %s" % (rel, "md5 ok" if ok else "md5 WRONG or file missing"))
    return out


def words(v):
    return " ".join((v or "").split())


def show(label, d, srcdir):
    pn = d.getVar("PN")
    lines = []

    def put(name, value):
        lines.append("%s: %s = %s" % (label, name, value))

    put("PN", pn)
    put("PV", d.getVar("PV"))
    put("S", d.getVar("S"))
    put("B", d.getVar("B"))
    put("LICENSE", d.getVar("LICENSE"))
    for entry in lic_check(d, srcdir):
        put("LIC_FILES_CHKSUM", entry)
    uris = (d.getVar("SRC_URI") or "").split()
    put("SRC_URI[0]", uris[0] if uris else "")
    put("SRC_URI crates", str(sum(u.startswith("crate://") for u in uris)))
    sums = [u for u in uris if u.startswith("crate://")]
    missing = [
        u for u in sums
        if not d.getVarFlag("SRC_URI", "%s-%s.sha256sum" % tuple(u.split("/")[3:5]))
    ]
    put("SRC_URI crates without sha256sum", str(len(missing)))
    put("SRCREV", d.getVar("SRCREV"))
    put("DEPENDS", words(d.getVar("DEPENDS")))
    put("BBCLASSEXTEND", d.getVar("BBCLASSEXTEND") or "")
    tasks = d.getVar("__BBTASKS", False) or []
    put("tasks", " ".join(sorted(tasks)))
    for task in ("do_configure", "do_compile", "do_install"):
        put(task, words(d.getVar(task, False)))
        deps = d.getVarFlag(task, "depends")
        if deps:
            put(task + "[depends]", words(deps))
    put("INSANE_SKIP:" + pn, words(d.getVar("INSANE_SKIP:" + pn)))
    put("FILES:" + pn, words(d.getVar("FILES:" + pn)))
    put("CARGO_MANIFEST_PATH", d.getVar("CARGO_MANIFEST_PATH"))
    put("CARGO_BUILD_FLAGS", words(d.getVar("CARGO_BUILD_FLAGS")))
    if d.getVar("ebpf_cross_do_compile", False) is not None:
        put("PACKAGE_ARCH", d.getVar("PACKAGE_ARCH"))
        for var in (
            "EBPF_CROSS_TARGET",
            "EBPF_CROSS_STATIC",
            "EBPF_CROSS_KERNEL_SRC",
            "EBPF_CROSS_KERNEL_BUILD",
            "EBPF_CROSS_CACHE_DIR",
            "EBPF_CROSS_HOST_LIBBPF",
            "EBPF_CROSS_BPF_CFLAGS",
            "CLANG",
            "LLC",
            "LIBCLANG_PATH",
            "CARGO_PROFILE_RELEASE_STRIP",
        ):
            exported = "export " if d.getVarFlag(var, "export") else ""
            put(exported + var, words(d.getVar(var)))
        put("ebpf_cross_do_compile", words(d.getVar("ebpf_cross_do_compile")))
        put("ebpf_cross_do_install", words(d.getVar("ebpf_cross_do_install")))
        put("do_fetch[prefuncs]", words(d.getVarFlag("do_fetch", "prefuncs")))
        put("missing crates", d.expand("${@ebpf_cross_missing_crates(d)}"))
    return lines


def show_appends(minimal, layer, base, appends):
    """Each bbappend applied, as cooker applies it, to the stand-in recipe
    in MINIMAL_DIR/recipes-kernel it names (`%` matching any version); what
    it adds to SRC_URI, and where each `file://` it adds is found."""
    out = []
    for append in sorted(appends):
        name = os.path.basename(append)[: -len(".bbappend")]
        stem = name.split("%")[0]
        targets = sorted(
            r for r in glob.glob(os.path.join(minimal, "recipes-kernel", "*.bb"))
            if os.path.basename(r)[: -len(".bb")].startswith(stem)
        )
        rel = os.path.relpath(append, layer)
        if not targets:
            out.append("%s: applies to no recipe" % rel)
            continue
        d = bb.data.createCopy(base)
        d.setVar("__BBAPPEND", append)
        stores = bb.parse.handle(targets[0], d, 0)
        d = stores[""]
        label = "%s + %s" % (d.getVar("PN"), rel)
        uris = (d.getVar("SRC_URI") or "").split()
        out.append("%s: SRC_URI = %s" % (label, " ".join(uris)))
        paths = [p for p in (d.getVar("FILESEXTRAPATHS") or "").split(":") if p]
        shown = [os.path.relpath(p, layer) if p.startswith(layer) else p for p in paths]
        out.append("%s: FILESEXTRAPATHS = %s" % (label, " ".join(shown)))
        for uri in uris:
            if not uri.startswith("file://"):
                continue
            f = uri[len("file://"):].split(";")[0]
            found = [p for p in paths if os.path.isfile(os.path.join(p, f))]
            where = os.path.relpath(os.path.join(found[0], f), layer) if found else "NOT FOUND"
            out.append("%s: %s = %s" % (label, uri, where))
    return out


def main():
    minimal, layer = sys.argv[1], os.path.abspath(sys.argv[2])
    tclibc = sys.argv[3] if len(sys.argv) > 3 else "glibc"
    # bb logs parse warnings through logging; make them visible and fatal.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    base = config(os.path.abspath(minimal), layer, tclibc)
    out = []
    for name in sorted(base.getVar("BBFILE_COLLECTIONS").split()):
        out.append("layer: LAYERSERIES_COMPAT_%s = %s" % (name, base.getVar("LAYERSERIES_COMPAT_" + name)))
        out.append("layer: LAYERDEPENDS_%s = %s" % (name, base.getVar("LAYERDEPENDS_" + name)))
    recipes = []
    appends = []
    for pattern in base.getVar("BBFILES").split():
        for f in glob.glob(pattern):
            (appends if f.endswith(".bbappend") else recipes).append(f)
    project = os.path.dirname(layer)
    repo = os.environ.get("EBPF_CROSS_REPO_DIR", project)
    for recipe in sorted(recipes):
        stores = bb.parse.handle(recipe, bb.data.createCopy(base), 0)
        # The tool's own recipe builds from the tool's repository; the
        # project's recipe from the project.
        srcdir = repo if "recipes-devtools" in recipe else project
        for variant in sorted(stores):
            d = stores[variant]
            if d.getVar("__SKIPPED"):
                out.append("%s: SKIPPED %s" % (os.path.basename(recipe), d.getVar("__SKIPPED")))
                continue
            label = d.getVar("PN")
            out.extend(show(label, d, srcdir))
    out.extend(show_appends(minimal, layer, base, appends))
    print("\n".join(out))


if __name__ == "__main__":
    main()
