# Stand-in for oe-core's native class: the override it sets.
CLASSOVERRIDE = "class-native"
