"""Each final-model family to and from the saved files: :func:`model_record` gives the manifest's ``model``
record and the tensors of a model, :func:`build_model` builds the model back from them (eval mode, CPU)."""
from __future__ import annotations

from pathlib import Path

from ..errors import AutofastError


def model_record(model) -> tuple[dict, dict]:
    """(model record, tensors) of a final model: a :class:`RocketModel` (MiniRocket or Hydra), a :class:`KmerModel`,
    a :class:`KernelModel`, an
    :class:`Ensemble` (or :class:`FoldEnsemble`), one network, or a :class:`Blend` of a network and one of the
    feature models."""
    import torch

    from ..models.ensemble import Ensemble, FoldEnsemble
    from ..search.blend import Blend
    from ..search.kernel_family import KernelModel
    from ..search.kmer_family import KmerModel
    from ..search.linear_family import LinearModel
    from ..search.rocket_family import RocketModel
    from ..search.wd_family import WDModel

    if isinstance(model, LinearModel):
        return {"family": "linear", "alpha": model.alpha, "combine": "x.flatten(1) @ coef + intercept (float64)",
                **({"out_shape": list(model.out_shape)} if model.out_shape else {})}, \
            {"linear.coef": model.coef, "linear.intercept": model.intercept}
    if isinstance(model, KernelModel):
        state = model.clf.state_dict()
        tensors = {f"kernel.{k}": v for k, v in state.items() if isinstance(v, torch.Tensor)}
        return {"family": "kernel", **{k: v for k, v in state.items() if not isinstance(v, torch.Tensor)},
                "temperature": model.temperature,
                "combine": "the RBF kernel ridge's predictions" if state["regression"] else
                           "softmax of temperature x the RBF kernel ridge scores"}, tensors
    if isinstance(model, Blend):  # the network's record, the features' record under "blend" (tensors "blend.*")
        rec, tensors = model_record(model.cnn)
        part, part_tensors = model_record(model.features)
        rec["blend"] = part
        rec["combine"] = (f"mean class probability of the network(s) and of the {part['family']} model "
                          "(softmax of temperature x its scores)" if model.classify else
                          f"mean prediction of the network(s) and of the {part['family']} model")
        return rec, {**tensors, **{f"blend.{k}": v for k, v in part_tensors.items()}}
    if isinstance(model, WDModel):
        state = model.clf.state_dict()
        return {"family": "wd", "length": int(state["support_codes"].shape[1]), "degree": state["degree"],
                "shift": state["shift"], "c": state["c"], "temperature": model.temperature,
                "combine": "softmax of temperature x the one-vs-rest SVM margins on the weighted-degree kernel"}, \
            {"wd.support_codes": state["support_codes"], "wd.coef": state["coef"], "wd.intercept": state["intercept"]}
    if isinstance(model, KmerModel):
        state = model.clf.state_dict()
        return {"family": "kmer", "length": state["length"], "c": state["c"], "order": state["order"],
                "temperature": model.temperature,
                "combine": "softmax of temperature x the logistic-regression logits"}, \
            {"kmer.coef": state["coef"], "kmer.intercept": state["intercept"]}
    if isinstance(model, RocketModel):  # draw 0's tensors "rocket.*" ("hydra.*"), draw i's "rocket{i}.*"
        from ..search.rocket_family import FEATURES

        features = next(n for n, c in FEATURES.items() if type(model.clfs[0]) is c)
        family = "rocket" if features == "minirocket" else features
        tensors, numbers = {}, []
        for i, clf in enumerate(model.clfs):
            state = clf.state_dict()
            tensors.update({f"{family}{i or ''}.{k}": v for k, v in state.items() if isinstance(v, torch.Tensor)})
            numbers.append({k: v for k, v in state.items() if not isinstance(v, torch.Tensor)})
        numbers = numbers[0] if len(numbers) == 1 else numbers
        if model.scaling is not None:
            tensors["scaling.scale"], tensors["scaling.shift"] = model.scaling
        return {"family": family, "numbers": numbers, "scaling": model.scaling is not None,
                "tail_as_zeros": model.tail_as_zeros, "temperature": model.temperature, "draws": len(model.clfs),
                "combine": "the ridge predictions' mean over the draws" if model.regression else
                           "softmax of temperature x the ridge scores (their mean over the draws)"}, tensors
    if isinstance(model, Ensemble):
        container = "fold_ensemble" if isinstance(model, FoldEnsemble) else "ensemble"
        return {"family": "cnn", "container": container, "members_count": len(model.members),
                "combine": "mean class probability of the members"}, dict(model.state_dict())
    return {"family": "cnn", "container": "single", "members_count": 1, "combine": "softmax of the logits"}, \
        dict(model.state_dict())


def build_model(manifest: dict, state: dict, where: Path):
    """The final model (eval mode, CPU) from the manifest's ``model`` record and the weights."""
    import torch

    from ..models import build_backbone, fixed_factory
    from ..models.checkpoint import load_into
    from ..models.ensemble import Ensemble

    rec = manifest["model"]
    if rec.get("blend"):
        from ..search.blend import Blend

        parts = {k: v for k, v in state.items() if not k.startswith("blend.")}
        features = {k[len("blend."):]: v for k, v in state.items() if k.startswith("blend.")}
        return Blend(build_model({**manifest, "model": {k: v for k, v in rec.items() if k != "blend"}}, parts, where),
                     build_model({**manifest, "model": rec["blend"]}, features, where),
                     classify=not manifest.get("regression")).eval()
    if rec["family"] in ("rocket", "hydra"):
        from ..search.blend import FAMILY_NAMES
        from ..search.rocket_family import FEATURES, RocketModel

        family = rec["family"]
        make = FEATURES["minirocket" if family == "rocket" else family]
        numbers = rec.get("numbers", {})
        numbers = numbers if isinstance(numbers, list) else [numbers]  # one draw (files before draws)
        try:
            clf = []
            for i, nums in enumerate(numbers):
                prefix = f"{family}{i or ''}."
                clf_state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
                clf.append(make.from_state_dict({**clf_state, **nums}))
        except (KeyError, TypeError, ValueError) as exc:
            raise AutofastError(f"{where}: the {FAMILY_NAMES[family]} model's weights are incomplete ({exc}); "
                                "restore the run folder from a copy") from None
        scaling = (state["scaling.scale"], state["scaling.shift"]) if rec.get("scaling") else None
        return RocketModel(clf, scaling, float(rec.get("temperature", 1.0)), bool(rec.get("tail_as_zeros"))).eval()
    if rec["family"] == "linear":
        from ..search.linear_family import LinearModel

        try:
            return LinearModel(state["linear.coef"], state["linear.intercept"], float(rec.get("alpha", "nan")),
                               rec.get("out_shape")).eval()
        except (KeyError, ValueError) as exc:
            raise AutofastError(f"{where}: the linear model's weights are incomplete ({exc}); restore the run "
                                "folder from a copy") from None
    if rec["family"] == "kernel":
        from ..models.rbf_ridge import RBFKernelRidge
        from ..search.kernel_family import KernelModel

        try:
            clf = RBFKernelRidge.from_state_dict({**{k[len("kernel."):]: v for k, v in state.items()
                                                     if k.startswith("kernel.")},
                                                  **{k: rec[k] for k in ("gamma", "g", "scale", "alpha", "regression")},
                                                  "pool": rec.get("pool", 1)})
        except (KeyError, TypeError, ValueError) as exc:
            raise AutofastError(f"{where}: the RBF kernel ridge's weights are incomplete ({exc}); restore the run "
                                "folder from a copy") from None
        return KernelModel(clf, float(rec.get("temperature", 1.0))).eval()
    if rec["family"] == "kmer":
        from ..models.kmer import KmerClassifier
        from ..search.kmer_family import KmerModel

        try:
            clf = KmerClassifier.from_state_dict({"coef": state["kmer.coef"], "intercept": state["kmer.intercept"],
                                                  "length": rec["length"], "c": rec.get("c", float("nan")),
                                                  "order": rec.get("order", 2)})
        except (KeyError, TypeError, ValueError) as exc:
            raise AutofastError(f"{where}: the k-mer model's weights are incomplete ({exc}); restore the run "
                                "folder from a copy") from None
        return KmerModel(clf, float(rec.get("temperature", 1.0))).eval()
    if rec["family"] == "wd":
        from ..models.wdkernel import WDKernelSVM
        from ..search.wd_family import WDModel

        try:
            clf = WDKernelSVM.from_state_dict({"support_codes": state["wd.support_codes"], "coef": state["wd.coef"],
                                               "intercept": state["wd.intercept"], "degree": rec["degree"],
                                               "shift": rec.get("shift", 0), "c": rec.get("c", float("nan"))})
        except (KeyError, TypeError, ValueError) as exc:
            raise AutofastError(f"{where}: the kernel SVM's weights are incomplete ({exc}); restore the run "
                                "folder from a copy") from None
        if clf.support_codes_.shape[1] != int(rec.get("length", -1)):
            raise AutofastError(f"{where}: the kernel SVM's support vectors do not have the recorded length; "
                                "restore the run folder from a copy")
        return WDModel(clf, float(rec.get("temperature", 1.0))).eval()
    if rec["family"] == "timm":
        from ..autoft.model import ArchSpec, build_model as build_timm

        model = build_timm(ArchSpec(rec["backbone"], int(rec["ndim"]), int(rec["in_channels"]), int(rec["out_size"])))
        with torch.no_grad():
            load_into(model, state, where)
        return model.eval()
    if rec["family"] != "cnn":
        raise AutofastError(f"{where}: unknown model family {rec['family']!r}; upgrade autofast")
    nets = [build_backbone(rec["backbone"], int(rec["ndim"]), int(rec["in_channels"]), int(rec["out_size"]),
                           int(m["width"]), fixed_factory([tuple(p) for p in m["pattern"]]),
                           dropout=float(m["dropout"]), positional=bool(rec["positional"]))
            for m in rec["members"]]
    model = nets[0] if rec["container"] == "single" else Ensemble(nets, classify=not manifest.get("regression"))
    with torch.no_grad():
        load_into(model, state, where)
    return model.eval()
