"""autofast.kernels: the compiled kernels alone (torch + triton; numba optional).

Each op has one home (``autofast.kernels.<op>``) holding its torch reference, its backends and
a dispatcher. Import cost is kept low: backends load lazily on first use.
"""
