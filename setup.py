"""Build script: maps the top-level kernels/ folder to the `autofast.kernels` package.

It also builds the optional C++ extension ``autofast._C`` (csrc/tap_conv.cpp: pybind11 + OpenMP, no
libtorch). The extension is optional: if pybind11 is missing or the compiler fails, the install still
succeeds without it and the Python side falls back to torch (``autofast.kernels.conv.tap_conv_cpu``).
"""
import os
import sys

from setuptools import find_packages, setup

kernel_pkgs = find_packages(where="kernels")
ext_kwargs = {}


def _warn(msg: str) -> None:
    print(f"WARNING: {msg}", file=sys.stderr)


if os.environ.get("AUTOFAST_NO_EXT", "") not in ("", "0"):
    _warn("AUTOFAST_NO_EXT is set: skipping the autofast._C extension")
else:
    try:
        from pybind11.setup_helpers import Pybind11Extension, build_ext
    except ImportError as exc:  # pybind11 not installed in a non-isolated build
        _warn(f"pybind11 is unavailable ({exc}); building without the autofast._C extension")
    else:
        if sys.platform == "darwin":  # Apple clang: OpenMP needs libomp; build single-threaded
            omp_cflags, omp_ldflags = [], []
        elif sys.platform == "win32":
            omp_cflags, omp_ldflags = ["/O2", "/openmp"], []
        else:
            omp_cflags, omp_ldflags = ["-O3", "-fopenmp", "-Wno-psabi"], ["-fopenmp"]

        class OptionalBuildExt(build_ext):
            """build_ext that warns and skips the extension when compiling it fails."""

            def run(self):
                try:
                    super().run()
                except Exception as exc:  # noqa: BLE001 - any compiler/toolchain failure
                    _warn(f"building the autofast._C extension failed ({exc}); the torch fallback is used")

            def build_extension(self, ext):
                try:
                    super().build_extension(ext)
                except Exception as exc:  # noqa: BLE001
                    _warn(f"building {ext.name} failed ({exc}); the torch fallback is used")

            def copy_extensions_to_source(self):  # editable installs: copy only what was built
                try:
                    super().copy_extensions_to_source()
                except Exception as exc:  # noqa: BLE001
                    _warn(f"could not copy the built extension into the source tree ({exc})")

        ext_kwargs = {
            "ext_modules": [
                Pybind11Extension(
                    "autofast._C",
                    ["csrc/tap_conv.cpp"],
                    extra_compile_args=omp_cflags,
                    extra_link_args=omp_ldflags,
                    cxx_std=17,
                )
            ],
            "cmdclass": {"build_ext": OptionalBuildExt},
        }

setup(
    packages=find_packages(include=["autofast", "autofast.*"])
    + ["autofast.kernels"]
    + [f"autofast.kernels.{p}" for p in kernel_pkgs],
    package_dir={"autofast.kernels": "kernels"},
    # the bundled data sets, listed here only: include_package_data would also pull them in from the
    # manifest and warn that their folders are importable namespace packages missing from `packages`
    package_data={"autofast.data": ["bundled/*.csv", "bundled/*.md", "bundled/*/*.ts", "bundled/*/*.yaml"]},
    include_package_data=False,
    **ext_kwargs,
)
