"""``python -m autofast forecast --data panel.csv`` on a long-format panel (a series id column, dates, one value
column): one global Auto-AR over every series (:mod:`autofast.forecast.panel`), in a staged run folder.

Writes ``result.json`` / ``report.md`` / ``report.html`` (protocol, choice, test MASE / sMAPE / MSE beside the
naive forecasts), ``per_series.csv`` (each series' test errors), ``forecast_next_H<h>.csv`` (long format: id,
date, value: the rows after each series), ``model.json`` (``predict RUN_DIR --data newer.csv``) and
``forecast_panel.png`` (a few series: history, test forecast, the forecast after the data; ``--no-plot``: none)."""
from __future__ import annotations

import json
import time
from pathlib import Path

from autofast.errors import AutofastError

from .options import default_out, validated
from .progress import make_console

#: AutoARConfig fields a panel run reads (flag names); any other one given is refused, not ignored
PANEL_FLAGS = {"horizon": "horizon", "max_order": "max_order", "min_order": "min_order", "diff": "diff_orders",
               "intercept": "intercept", "season": "season", "naive": "naive", "shrink": "shrink",
               "backend": "backend", "level": "levels", "theta": "theta"}



def _scored_line(a: dict, tested: int | None) -> list[str]:
    """A line saying how many series each test mean covers, where a measure is undefined on some (MASE on a
    constant series, sMAPE on an all-zero one); none when every tested series counts."""
    counts = {k: a[f"series_{k}"] for k in ("mse", "mase", "smape") if f"series_{k}" in a}
    most = max(counts.values(), default=0) if tested is None else tested
    short = {k: v for k, v in counts.items() if v < most}
    if not short:
        return []
    return ["means over the series where each is defined: " + ", ".join(
        f"{k.upper() if k != 'smape' else 'sMAPE'} {v} of {most}" for k, v in counts.items()) +
        " (MASE is undefined on a series without in-sample change, sMAPE where forecast and truth are both 0)"]

def panel_config(raw: dict, id_column: str):
    """The :class:`PanelConfig` of the given options (flag names); a single-series option is an error."""
    from autofast.forecast.panel import PanelConfig

    other = sorted(k for k, v in raw.items() if v is not None and k not in PANEL_FLAGS)
    if other:
        flag = "--" + other[0].replace("_", "-")
        raise AutofastError(f"{flag} does not apply to a panel (a long-format file with the series id column "
                            f"{id_column!r}: one global model, tested on each series' last horizon); drop it, or "
                            "give --id-column '' to read the file as one multichannel series")
    values = {PANEL_FLAGS[k]: v for k, v in raw.items() if v is not None}
    if isinstance(values.get("horizon"), list):
        if len(values["horizon"]) != 1:
            raise AutofastError(f"--horizon: a panel run takes one horizon, got {values['horizon']}")
        values["horizon"] = values["horizon"][0]
    return validated(PanelConfig, values, names={v: k for k, v in PANEL_FLAGS.items()})


def _selection_line(sel: dict) -> str:
    from autofast.forecast.panel import SINGLE_MODEL_MARGIN

    if "mean" not in sel or "single" not in sel:
        return ""
    rule = (sel["rule"] + (f"; {sel['seasonal adjustment']}" if "seasonal adjustment" in sel else "")
            if "rule" in sel else f"a single model is chosen only below {SINGLE_MODEL_MARGIN} x the mean's")
    return (f" Validation MASE of the mean with the per-series models ({sel['mean']['label']}) "
            f"{sel['mean']['validation_mase']:.4f}, of the best single model ({sel['single']['label']}) "
            f"{sel['single']['validation_mase']:.4f}: {rule}.")


def report_markdown(p: dict) -> str:
    t = p["test"]
    lines = [f"# autofast forecast (panel): {p['data']}", "",
             (f"{p['series']} series ({p['id_column']!r})" if p.get("id_column") else "One series") +
             f", value {p['value_column']!r}, "
             f"{p['rows']} rows; frequency {p['frequency'] or 'none recognised'}, season {p['config']['season']}.", "",
             "## Protocol", ""] + ([p["reason"][:1].upper() + p["reason"][1:] + ".", ""] if p.get("reason") else []) + \
            [p["protocol"], ""]
    if p["sized_from_data"]:
        lines += ["Sized from the data: " + "; ".join(f"{k.replace('_', ' ')} {v}"
                                                      for k, v in p["sized_from_data"].items()), ""]
    lines += ["## Result", "", f"Chosen on validation: **{p['chosen']['label']}** on the "
              f"{p['chosen']['transform']} (validation MASE "
              f"{p['chosen']['selection_score']:.4f}, {p['candidates']} AR candidates + naive forecasts"
              f"{' + the mean of the pick, Theta and the damped trend' if p['config'].get('theta') else ''}, "
              f"{p['validation_series']} series)." + _selection_line(p.get("selection", {})), "",
              "| method | test MASE | test sMAPE (%) | test MSE (z) |", "|---|---|---|---|"]
    for name, s in t.items():
        lines.append(f"| {name} | {s['mase']:.4f} | {s['smape']:.2f} | {s['mse']:.4f} |")
    lines += _scored_line(t["Auto-AR"], p.get("tested_series"))
    a = t["Auto-AR"]
    if any(k.startswith("coverage_") for k in a):
        cover = ", ".join(f"{a[f'coverage_{lv}']:.1%} of the {lv}% intervals (MSIS {a[f'msis_{lv}']:.2f})"
                          for lv in p["config"]["levels"])
        lines += ["", "Prediction intervals (half-widths per step from the validation errors over each series' MASE "
                  f"scale): test coverage {cover}."]
    lines += ["", f"{p['tested_series']} series tested on their last {p['config']['horizon']} rows; per series in "
              "per_series.csv.", ""]
    return "\n".join(lines)


def run_panel_command(args, raw: dict, opts: dict, path: Path, name: str, id_column: str) -> int:
    """The panel branch of ``forecast``: ``raw`` the AutoARConfig options given (flag names), ``opts`` the run
    options (``columns``, ``date_column``, ...)."""
    from autofast.data.panel import load_panel

    console = make_console(stderr=True, quiet=args.json)
    if opts.get("baseline"):
        raise AutofastError("--baseline does not apply to a panel; bench/forecast_panel.py --panels runs "
                            "statsforecast's models beside it")
    cfg = panel_config(raw, id_column)
    columns = opts["columns"]
    if columns and len(columns) != 1:
        raise AutofastError(f"--columns: a panel forecasts one value column, got {len(columns)}; name one")
    t0 = time.perf_counter()
    panel = load_panel(path, id_column, opts["date_column"] or None, columns[0] if columns else None)
    t_load = time.perf_counter() - t0
    console.print(f"panel: {len(panel)} series ({panel.id_column!r}), value {panel.value_column!r}, dates "
                  f"{panel.date_column!r}, {int(panel.lengths.sum())} rows (lengths {int(panel.lengths.min())}.."
                  f"{int(panel.lengths.max())})")
    return write_panel_run(args, cfg, opts, panel, path, name, t_load, console)


def write_panel_run(args, cfg, opts: dict, panel, path: Path, name: str, t_load: float, console,
                    reason: str | None = None) -> int:
    """Run the panel protocol on ``panel`` into a staged run folder and print its summary; ``reason``: why a
    single series is forecast as a panel of one (:mod:`autofast.forecast.short`), said in the report."""
    from autofast.forecast.panel import SINGLE_MODEL_MARGIN, naive_series_note, plot_panel, run_panel
    from autofast.io import atomic_path, staged_run_dir
    from autofast.reporting import write_reports

    out = Path(args.out) if args.out else default_out("forecast", name, name)
    with staged_run_dir(out, args.overwrite, command="forecast") as tmp:
        if reason:  # once the run folder is claimed: a refused --out is the one error line
            console.print(f"note: {reason}")
        t0 = time.perf_counter()
        res = run_panel(panel, cfg, progress=lambda m: console.print(f"Auto-AR panel: {m}"))
        H = res.config.horizon
        with atomic_path(tmp / f"forecast_next_H{H}.csv") as f:
            res.next(intervals=True).to_csv(f, index=False)
        per = res.per_series_frame.rename(columns={k: f"test_{k}" for k in res.per_series}).reset_index()
        with atomic_path(tmp / "per_series.csv") as f:
            per.to_csv(f, index=False)
        res.model.save(tmp)
        if not opts["no_plot"]:
            plot_panel(tmp / "forecast_panel.png", res)
        from dataclasses import asdict

        chosen = {**{k: v for k, v in asdict(res.chosen).items() if k != "psi"}, "label": res.chosen.label,
                  "transform": res.transform.label}
        payload = {
            "command": "forecast", "kind": "panel" if reason is None else "panel of one", "reason": reason,
            "data": name, "source": str(path), "series": len(panel),
            "rows": int(panel.lengths.sum()), "id_column": panel.id_column, "date_column": panel.date_column,
            "value_column": panel.value_column,
            "frequency": res.frequency.name if res.frequency else None,
            "config": res.config.model_dump(mode="json"), "sized_from_data": res.sized_from_data,
            "protocol": (f"per series of n rows: one global AR fitted on rows [0, n-2H) of every series (each "
                         f"standardised with its own history's mean and std; on the levels, and where they apply "
                         f"on the logs and on M4's seasonally adjusted values), every candidate (p, d, const), the "
                         f"pick shrunk toward the naive forecast, the naive and seasonal naive forecasts, and the "
                         f"mean of the pick, the per-series Theta and damped trend, scored on rows [n-2H, n-H) by "
                         f"the mean MASE over series; a single model (not a mean) chosen only when its score is "
                         f"below {SINGLE_MODEL_MARGIN} x the mean's; the choice refitted on [0, n-H) and tested "
                         f"once on the last H = {H} rows; "
                         f"refitted on all rows for the next H. Series of <= 2H rows are left out of the "
                         f"validation, of <= H rows out of the test."),
            "chosen": chosen, "final_model": {"psi": res.model.chosen.psi, "c": res.model.chosen.c},
            "candidates": res.candidates, "validation_series": res.validation_series, "selection": res.selection,
            "tested_series": int(res.tested.sum()), "test": res.test,
            "naive_series": [panel.ids[i] for i in res.model.too_short(panel.values)],  # next rows: last value
            "units": "MASE: mean absolute error over the history's mean absolute seasonal difference (M4); sMAPE in "
                     "percent; MSE on each series' standardised scale; means over the tested series",
            "run": {"load_seconds": t_load, "seconds": time.perf_counter() - t0, **res.timings},
            "run_dir": str(out),
        }
        write_reports(tmp, payload, report_markdown(payload), f"autofast forecast {name} (panel)")
    if args.json:
        print(json.dumps(payload, indent=2, default=str))
        return 0
    out_console = make_console()
    t = res.test
    what = f"{len(panel)} series" if reason is None else f"one series as a panel of one, {int(panel.lengths[0])} rows"
    out_console.print(f"Auto-AR panel on {name}: {what}, H={H}, chose {res.chosen.label} on the "
                      f"{res.transform.label} on validation")
    for method, s in t.items():
        out_console.print(f"  {method:15s} test MASE {s['mase']:.4f}  sMAPE {s['smape']:6.2f}%  MSE (z) {s['mse']:.4f}")
    for line in _scored_line(t["Auto-AR"], int(res.tested.sum())):
        out_console.print(f"  {line}")
    a = t["Auto-AR"]
    out_console.print("  prediction intervals: test coverage " +
                      ", ".join(f"{a[f'coverage_{lv}']:.1%} of the {lv}% (MSIS {a[f'msis_{lv}']:.2f})"
                                for lv in res.config.levels))
    short = payload["naive_series"]
    if short:
        out_console.print(f"note: {naive_series_note(short)}")
    if reason is None:
        out_console.print(f"tested once on each series' last {H} rows ({int(res.tested.sum())} series); next {H} rows "
                          f"per series in forecast_next_H{H}.csv. Results in {out}/")
    else:
        out_console.print(f"tested once on its last {H} rows; the next {H} rows in forecast_next_H{H}.csv. Results in "
                          f"{out}/")
    return 0
