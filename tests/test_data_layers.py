"""The data layer's imports point down: the shared types are a leaf, and no loader imports the dispatcher."""
import subprocess
import sys

LOADERS = ["autofast.data.types", "autofast.data.arrays", "autofast.data.dna", "autofast.data.images",
           "autofast.data.series", "autofast.data.dense", "autofast.data.darcy", "autofast.data.files",
           "autofast.data.task_file"]


def _loaded_after(module: str) -> set[str]:
    code = (f"import sys, importlib; importlib.import_module({module!r}); "
            "print(' '.join(m for m in sys.modules if m.startswith('autofast.data')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_loaders_do_not_import_the_dispatcher():
    for module in LOADERS:
        loaded = _loaded_after(module)
        assert "autofast.data.supervised" not in loaded, module
        assert "autofast.data.registry" not in loaded, module


def test_types_is_a_leaf():
    assert _loaded_after("autofast.data.types") == {"autofast.data", "autofast.data.types"}
