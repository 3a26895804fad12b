# bitbake-setup's wheel ships bitbake's `bb` library but not its sibling
# `hashserv`, which bb.siggen imports at load time for the hash-equivalence
# client. Parsing never talks to a hash server, so an empty package is
# enough; parse_layer.py puts this directory on sys.path only when the
# real hashserv is not installed.
