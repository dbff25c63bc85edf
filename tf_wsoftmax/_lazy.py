"""Names of a package that load on first use (PEP 562), so that importing it starts no framework."""

import importlib


def lazy_attributes(package, table):
    """`__getattr__` and `__dir__` for a package whose names live in submodules.

    Args:
        package: the package's `__name__`.
        table: {public name: (module, attribute or None for the module itself)}.

    Returns:
        (__getattr__, __dir__) to assign in the package's `__init__`.
    """
    import sys

    def __getattr__(name):
        if name not in table:
            raise AttributeError(f"module '{package}' has no attribute '{name}'")
        module_name, attribute = table[name]
        module = importlib.import_module(module_name)
        value = module if attribute is None else getattr(module, attribute)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__():
        return sorted(set(vars(sys.modules[package])) | set(table))

    return __getattr__, __dir__
