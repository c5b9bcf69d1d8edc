"""Build script: maps the top-level kernels/ folder to the `autofast.kernels` package."""
from setuptools import find_packages, setup

kernel_pkgs = find_packages(where="kernels")
setup(
    packages=find_packages(include=["autofast", "autofast.*"])
    + ["autofast.kernels"]
    + [f"autofast.kernels.{p}" for p in kernel_pkgs],
    package_dir={"autofast.kernels": "kernels"},
    package_data={"autofast.data": ["bundled/*.csv", "bundled/*.md"]},
    include_package_data=True,
)
