"""DASHA's search pipeline (``python -m autofast search``): :mod:`.plan` derives every budget-dependent
setting from the data, the step cost measured by :mod:`.cost` and a time budget; DASH finds the kernel pattern
(:mod:`autofast.dash`); ASHA tunes the training hyperparameters and the architecture (:mod:`.trial`,
:mod:`.tune` on :mod:`autofast.asha` and the training engine :mod:`autofast.engine`), scored on a validation
split or by k-fold cross-validation (:mod:`.folds`), beside the random-convolution family
(:mod:`.rocket_family`); the final model is tested once (:mod:`.pipeline`); :mod:`.report` writes the report,
:mod:`.progress` draws the live table.

The package is also callable: ``autofast.search(task, out=None, verbose=False, resume=False, **options)`` is
:func:`autofast.api.search` (the name ``autofast.search`` is both this package and the Python API's entry point;
``help(autofast.api.search)`` for its arguments: any ``search`` option by its flag's name, ``resume=True`` to
continue an interrupted ``out`` folder)."""
import sys as _sys
import types as _types


class _CallablePackage(_types.ModuleType):
    def __call__(self, task, **options):
        """Run a search: :func:`autofast.api.search` (``task``, ``out=``, ``verbose=``, ``resume=``, SearchConfig
        options)."""
        from autofast.api import search

        return search(task, **options)


_sys.modules[__name__].__class__ = _CallablePackage
