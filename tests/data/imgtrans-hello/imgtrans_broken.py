"""A plugin whose import fails: imgtrans must report it and carry on."""

raise ImportError("this plugin needs the package 'missing_dependency'")
