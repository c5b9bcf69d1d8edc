"""``python -m autofast predict RUN_DIR --data PATH``: apply a run's saved final model (``RUN_DIR/model/``,
:mod:`autofast.predictor`) to new data, read and standardised exactly as the training data were.

Output: a CSV with one row per input, in input order: ``index`` (the row in the data file; for a task, the
row in its test file or data file; a long table of series: the series' order of first appearance), ``id`` (a
table's id column, where it has one), ``predicted_label`` and ``p_<class>`` per class (a regression model:
``predicted_<target>`` per target, in the targets' units). A dense model (per-position targets): one ``.npz``
of arrays instead (:func:`_predict_dense`). When the data carry labels the accuracy (RMSE; dense: relative L2,
or per-position accuracy and mean IoU) is reported too (for a task's test split it is the run's test score).

A ``forecast`` run folder (its ``model.json``, :mod:`autofast.forecast.model`): ``--data`` is a newer series with
the run's channels; the output is one CSV per horizon, ``forecast-<data stem>-H<h>.csv``, of the rows after its
last row (dates stepped by its frequency), in the data's units, from the chosen model without a refit. A search on
forecasting windows (``--task ETTh1``) alike: its one horizon after the last ``lookback`` rows of ``--data``
(:mod:`autofast.predictor.windows`)."""
from __future__ import annotations

import json
from pathlib import Path

from autofast.errors import AutofastError


def add_parser(sub) -> None:
    """Register ``predict`` on an argparse subparsers object."""
    p = sub.add_parser(
        "predict", help="apply the final model of a search, dash or finetune run to new data (CSV of labels and "
                        "class probabilities, or of values), or a forecast run's models after newer rows",
        description="Apply the final model saved in a search, dash or finetune run folder to new data. --data: a "
                    "data file of the model's kind (DNA .csv/.tsv/.fasta with a sequence column; series .ts, UCR "
                    ".tsv/.txt/.csv with the label first, a CSV table (one series or one step per row), "
                    ".npz/.npy; images .npz/.npy or a folder of images; dense .npz/.npy), labelled or not; or a "
                    "bundled task name / YAML task file: its test split, as at training.")
    p.add_argument("run_dir", metavar="RUN_DIR",
                   help="the folder of a finished search, dash or finetune run (holds model/), or of a forecast run "
                        "(holds model.json: --data is then a newer series, forecast after its last row)")
    p.add_argument("--data", required=True, metavar="PATH",
                   help="data to predict: a data file, an image folder, a YAML task file or a bundled task name "
                        "(the last two: their test split) (required)")
    p.add_argument("--out", metavar="FILE", help="output CSV (a dense model: .npz) (default: "
                                                 "RUN_DIR/predictions-<data stem>.csv or .npz; a forecast run: "
                                                 "RUN_DIR/forecast-<data stem>-H<h>.csv per horizon)")
    p.add_argument("--threads", type=int, help="CPU threads (default: the CPUs this process may use)")
    p.add_argument("--json", action="store_true", help="print a JSON summary (output file, rows, accuracy)")
    p.set_defaults(func=run)


def write_rows(path: Path, header: list[str], index, row, ids=None) -> None:
    """The predictions CSV: ``header`` (``index`` first, then ``id`` where the inputs are named: a table's id
    column), then ``[index[i], ids[i], *row(i)]`` for each input in ascending ``index`` (input order), written
    atomically."""
    import csv
    import io

    import numpy as np

    from autofast.io import write_text_atomic

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header[:1] + ["id"] + header[1:] if ids is not None else header)
    for i in np.argsort(np.asarray(index), kind="stable"):
        w.writerow([int(index[i]), *([ids[i]] if ids is not None else []), *row(i)])
    write_text_atomic(path, buf.getvalue())


def write_predictions(path: Path, classes: list[str], index, proba, pred, ids=None) -> None:
    """Class predictions: ``index, [id,] predicted_label, p_<class>...``."""
    write_rows(path, ["index", "predicted_label", *[f"p_{c}" for c in classes]], index,
               lambda i: [classes[int(pred[i])], *[f"{float(v):.6g}" for v in proba[i]]], ids)


def write_values(path: Path, targets: list[str], index, pred, ids=None) -> None:
    """A regression model's predictions: ``index, [id,] predicted_<target>...`` in the targets' units."""
    write_rows(path, ["index", *[f"predicted_{t}" for t in targets]], index,
               lambda i: [f"{float(v):.8g}" for v in pred[i]], ids)


#: the names predict's own outputs start with (``predictions-*.csv``, ``forecast-*-H*.csv``): in the run folder,
#: only these may be replaced
OUTPUT_PREFIXES = ("predictions-", "forecast-")


def _out_path(args, default_name: str) -> Path:
    """``--out``, or ``RUN_DIR/default_name``; a folder there, or one of the run's own files (``result.json``,
    ``model/weights.pt``: overwritten, the run was broken), is one error line."""
    out = Path(args.out) if args.out else Path(args.run_dir) / default_name
    if out.is_dir():
        raise AutofastError(f"--out {str(out)!r} is a folder; give a file name")
    run = Path(args.run_dir).resolve()
    where = out.resolve()
    if where.is_relative_to(run) and (where.parent != run or where.exists()
                                      and not where.name.startswith(OUTPUT_PREFIXES)):
        raise AutofastError(f"--out {str(out)!r} is inside the run folder among its own files; give a file name "
                            f"outside it, or one starting with {' or '.join(OUTPUT_PREFIXES)} directly in it")
    return out


def _stem(data: str) -> str:
    from autofast.data.text import data_stem

    p = Path(data)
    return (p.name if p.is_dir() else data_stem(p)) or "data"


def _predict_forecast(args) -> int:
    """``predict`` on a forecast run: the saved chosen models applied after the last row of ``--data`` (a panel
    run's: after each series; a single series forecast as a panel of one: after the one series, as for a run of
    the window protocol)."""
    from autofast.data.registry import resolve_timeseries
    from autofast.data.timeseries import load_series
    from autofast.forecast.model import load_model
    from autofast.forecast.outputs import write_next_csv
    from autofast.forecast.panel import PanelModel

    model = load_model(args.run_dir)
    _, path = resolve_timeseries(str(args.data))
    one = isinstance(model, PanelModel)  # a panel of one (id column None) reads one series as the window runs do
    if one and model.id_column is not None:
        return _predict_panel(args, model, path)
    columns = [model.value_column] if one else model.columns
    horizons = [model.horizon] if one else model.horizons
    cols = ", ".join(map(repr, columns))
    data = load_series(path, model.date_column, columns,  # the run's columns: no option of predict's to name
                       (f"give newer rows with the run's date column {model.date_column!r}",
                        f"the new data: the run forecasts column(s) {cols}"))
    if one:
        from autofast.forecast.panel import next_frame
        from autofast.forecast.short import check_history, panel_of_one
        from autofast.io import atomic_path

        check_history(data.length, str(path))
    if args.out and len(horizons) > 1:
        raise AutofastError(f"--out names one file, but this forecast run has {len(horizons)} horizons "
                            f"{horizons}; leave --out out (one file per horizon in RUN_DIR)")
    outs = {}
    for h in horizons:
        out = _out_path(args, f"forecast-{_stem(str(args.data))}-H{h}.csv")
        if one:  # the panel's table of the rows after a series: a panel of one's has the single-series columns
            try:
                table = next_frame(panel_of_one(data), model, intervals=True)
            except AutofastError as exc:
                raise AutofastError(f"{path}: {exc}") from None
            with atomic_path(out) as tmp:
                table.to_csv(tmp, index=False)
        else:
            try:
                fc = model.predict(data.values, h)
            except AutofastError as exc:
                raise AutofastError(f"{path}: {exc}") from None
            write_next_csv(out, data.dates, columns, fc, model.bands(fc, h, data.values))
        outs[h] = str(out)
    last = str(data.dates[-1]) if data.dates is not None else f"row {data.length - 1}"
    read = f"all {data.length} rows read" if one else f"last {model.lookback} of {data.length} rows read"
    from autofast.data.frequency import infer_frequency

    notes = []  # what was done to the rows, and what they are beside the run's
    if data.filled:
        notes.append(f"missing dates: {data.filled} row{'s' * (data.filled != 1)} added where the dates skip steps, "
                     "linearly interpolated (as the forecast run reads them)")
    if data.interpolated:
        notes.append(f"missing values: {data.interpolated} empty cell{'s' * (data.interpolated != 1)} linearly "
                     "interpolated")
    other = _other_frequency_note(infer_frequency(data.dates), model.frequency)
    if other:
        notes.append(f"note: {other}")
    if one and model.too_short([data.values[:, 0]]):
        from autofast.forecast.panel import naive_series_note

        notes.append(f"note: {naive_series_note([str(path)])}")
    filled = "; ".join(notes)
    if args.json:
        print(json.dumps({"run_dir": str(args.run_dir), "data": str(path), "rows": data.length, "after": last,
                          "columns": columns, "lookback": None if one else model.lookback,
                          "filled_rows": data.filled, "interpolated_values": data.interpolated,
                          "out": {str(h): o for h, o in outs.items()}}, indent=2))
        return 0
    if filled:
        print(filled)
    for h, o in outs.items():
        print(f"{h} forecast rows after {last} ({read}) -> {o}")
    return 0


def _other_frequency_note(freq, model_frequency: str | None) -> str | None:
    """The note where newer data step at another frequency than the run's model was chosen on (forecast at the new
    data's step), else None."""
    if model_frequency and freq is not None and freq.name != model_frequency:
        return f"the new data are {freq.name}, the run's model was chosen on {model_frequency} data"
    return None


def _predict_panel(args, model, path: Path) -> int:
    """``predict`` on a panel forecast run: the global model applied after each series of the long-format
    ``--data`` (the run's id, date and value columns; series the run never saw too)."""
    from autofast.data.frequency import infer_frequency
    from autofast.data.panel import load_panel
    from autofast.forecast.panel import frequency_note, naive_series_note, next_frame, other_frequency
    from autofast.io import atomic_path

    panel = load_panel(path, model.id_column, model.date_column, model.value_column,
                       (f"a column {model.id_column!r} (the run's id column)",
                        f"the new data (the run's date column: {model.date_column!r})",
                        f"the new data (the run's value column: {model.value_column!r})"))
    H = model.horizon
    out = _out_path(args, f"forecast-{_stem(str(args.data))}-H{H}.csv")
    with atomic_path(out) as tmp:
        next_frame(panel, model, intervals=True).to_csv(tmp, index=False)
    short = [panel.ids[i] for i in model.too_short(panel.values)]
    notes = []
    freq = infer_frequency(panel.dates[int(panel.lengths.argmax())]) if panel.dates is not None else None
    other = _other_frequency_note(freq, model.frequency)
    if other:
        notes.append(other)
    odd = other_frequency(panel, freq)
    if odd:
        notes.append(frequency_note(odd, freq))
    single = [panel.ids[i] for i, n in enumerate(panel.lengths) if n < 2]
    if single:  # the intervals are in units of a series' steps: one row has none
        notes.append(f"{len(single)} series of one row (e.g. {single[0]!r}) have no prediction intervals (their "
                     "cells are empty): give at least two rows")
    if args.json:
        print(json.dumps({"run_dir": str(args.run_dir), "data": str(path), "series": len(panel), "horizon": H,
                          "naive_series": short, "notes": notes, "out": str(out)}, indent=2))
        return 0
    for note in notes:
        print(f"note: {note}")
    if short:
        print(f"note: {naive_series_note(short)}; give more of their history to forecast them with the model")
    print(f"{H} forecast rows after each of {len(panel)} series -> {out}")
    return 0


def _predict_windows(args, predictor) -> int:
    """``predict`` on a search run over forecasting windows: the next ``horizon`` rows after ``--data``'s last row
    (a newer stretch of the series: the model reads its last ``lookback`` rows), as a forecast run writes them."""
    from autofast.forecast.outputs import write_next_csv
    from autofast.predictor.windows import forecast_after, newer_rows, window_record

    rec = window_record(predictor)
    data = newer_rows(predictor, args.data)
    fc = forecast_after(predictor, data)
    out = _out_path(args, f"forecast-{_stem(str(args.data))}-H{rec['horizon']}.csv")
    write_next_csv(out, data.dates, list(rec["columns"]), fc)
    last = str(data.dates[-1]) if data.dates is not None else f"row {data.length - 1}"
    if args.json:
        print(json.dumps({"run_dir": str(args.run_dir), "data": data.source, "rows": data.length, "after": last,
                          "columns": list(rec["columns"]), "lookback": rec["lookback"], "horizon": rec["horizon"],
                          "out": str(out), "model": repr(predictor)}, indent=2))
        return 0
    print(f"{rec['horizon']} forecast rows after {last} (last {rec['lookback']} of {data.length} rows read) -> {out}")
    return 0


def _predict_dense(args, predictor, inputs) -> int:
    """A dense model's predictions as one ``.npz``: ``index`` (N,), and ``pred`` float32 fields ``(N, T, *S)`` in
    the targets' units, or masks ``(N, *S)`` of class values (integers where every class name is one, else
    strings) with ``proba`` float32 ``(N, K, *S)`` and ``classes``; scored against the data's targets if any."""
    import numpy as np

    from autofast.io import atomic_path

    out = _out_path(args, f"predictions-{_stem(args.data)}.npz")
    arrays = {"index": inputs.index}
    if predictor.manifest.get("regression"):
        pred = predictor.predict(inputs.x).numpy()
        arrays["pred"] = pred.astype(np.float32)
    else:
        pred, proba = (t.numpy() for t in predictor.classify(inputs.x))
        arrays.update(pred=predictor.class_values()[pred], proba=proba, classes=np.asarray(predictor.classes))
    with atomic_path(out) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)
    scores = {} if inputs.labels is None else predictor.dense_scores(pred, inputs.labels)
    line = (f"{len(pred)} predictions {tuple(pred.shape[1:])} -> {out}"
            + "".join(f"   {k.replace('_', ' ')} {v:.6g}" for k, v in scores.items())
            + ("   (targets in the data)" if scores else ""))
    return _summary(args, predictor, inputs, out, len(pred), {"shape": list(pred.shape[1:]), **scores}, line)


def _summary(args, predictor, inputs, out: Path, rows: int, scores: dict, line: str) -> int:
    """Print what ``predict`` did: a JSON summary (``--json``), else the inputs' notes and ``line``."""
    summary = {"run_dir": str(args.run_dir), "data": inputs.source, "out": str(out), "rows": int(rows),
               ("targets" if predictor.manifest.get("regression") else "classes"): predictor.classes,
               **scores, "labelled": inputs.labels is not None, "notes": inputs.notes, "model": repr(predictor)}
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    for note in inputs.notes:
        print(f"note: {note}")
    print(line)
    return 0


def run(args) -> int:
    """``python -m autofast predict``."""
    import numpy as np

    from autofast.forecast.model import FILE as FORECAST_MODEL
    from autofast.predictor import load_final
    from autofast.predictor.manifest import READ_KINDS

    if (Path(args.run_dir) / FORECAST_MODEL).is_file() and not (Path(args.run_dir) / "model").exists():
        return _predict_forecast(args)

    predictor = load_final(Path(args.run_dir))
    if predictor.kind == "timeseries":
        return _predict_windows(args, predictor)
    regression = bool(predictor.manifest.get("regression"))
    if predictor.kind not in READ_KINDS:
        raise AutofastError(f"{args.run_dir}: predict reads DNA, series, image and dense data; this run's model is a "
                            f"{predictor.kind} {'regression ' if regression else ''}model, not supported by predict "
                            "yet")
    if predictor.kind == "dense" and args.out and Path(args.out).suffix.lower() != ".npz":
        raise AutofastError(f"--out {args.out!r}: a dense model's predictions are arrays; give a .npz file name")
    inputs = predictor.prepare(args.data)
    if not len(inputs.x):
        raise AutofastError(f"{args.data}: holds no examples to predict")
    if predictor.kind == "dense":
        return _predict_dense(args, predictor, inputs)
    out = _out_path(args, f"predictions-{_stem(args.data)}.csv")
    accuracy = rmse = None
    if regression:
        pred = predictor.predict(inputs.x).numpy()
        write_values(out, predictor.classes, inputs.index, pred, inputs.ids)
        if inputs.labels is not None:  # as the test evaluation computes it, in the targets' units
            rmse = float(np.sqrt(np.mean((pred.astype(np.float64) - inputs.labels) ** 2)))
    else:
        pred, proba = (t.numpy() for t in predictor.classify(inputs.x))
        write_predictions(out, predictor.classes, inputs.index, proba, pred, inputs.ids)
        if inputs.labels is not None:
            accuracy = int((pred == inputs.labels).sum()) / len(pred)  # as the test evaluation counts
    line = f"{len(pred)} predictions -> {out}"
    if accuracy is not None:
        line += f"   accuracy {accuracy:.4f} (labels in the data)"
    if rmse is not None:
        line += f"   RMSE {rmse:.6g} (target values in the data)"
    return _summary(args, predictor, inputs, out, len(pred), {"rmse": rmse} if regression else {"accuracy": accuracy},
                    line)
