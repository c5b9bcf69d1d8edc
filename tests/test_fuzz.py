"""Property-based fuzzing (issue 11): every generated input either succeeds or fails with ONE ``error:`` line
(an :class:`~autofast.errors.AutofastError` in the loaders): never a traceback, never a result computed from
garbage (a successful forecast has finite errors).

Inputs: series CSVs and .npy arrays (the ``forecast`` command end to end), image .npz files, DNA FASTA / CSV
files and YAML task files (``load_task``, as ``dash``/``search`` call it), YAML config files (merged and
validated as every command does), and command lines of the training and forecasting commands (up to their first expensive step).

Profiles (``tests/conftest.py``): ``default`` (few examples, derandomised: part of the normal run) and
``nightly`` (``HYPOTHESIS_PROFILE=nightly``: many examples, random). Counts of the inputs run are printed with
``-s`` at the end of the module."""
import io
import json
import os
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from autofast.cli import main
from autofast.errors import AutofastError
from autofast.runtime import _THREAD_VARS as THREAD_VARS
from autofast.runtime import configure as configure_runtime

COUNTS: Counter = Counter()
FIXTURES = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(scope="module", autouse=True)
def _report():
    yield
    print(f"\nfuzz: {sum(COUNTS.values())} inputs ({dict(COUNTS)}), 0 tracebacks")


def check_cli(err: str, code: int, kind: str) -> None:
    """Exit 0, or exit 2 with one ``error:`` line as the last line of stderr and no traceback."""
    COUNTS[kind] += 1
    assert "Traceback" not in err and "internal error" not in err, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code in (0, 2), err
    if code == 2:
        assert lines and lines[-1].startswith("error: ") and sum(ln.startswith("error: ") for ln in lines) == 1, err


def loads_or_refuses(fn, kind: str):
    COUNTS[kind] += 1
    try:
        return fn()
    except AutofastError as exc:
        assert "\n" not in str(exc)
        return None


# ------------------------------------------------------------------------------------------ series CSV / npy
NAMES = st.sampled_from(["date", "a", "b", "c", "a", "", " ", "x y", '"q"', "é", "1", "a.1"])
CELLS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64).map(repr),
    st.integers(-10**6, 10**6).map(str),
    st.sampled_from(["", "nan", "abc", "1e309", "1e300", "-", '"3"', "2020-01-01", "0x10", " 7 "]),
)


@st.composite
def date_columns(draw, n: int):
    kind = draw(st.sampled_from(["hourly", "shuffled", "repeated", "integers", "text", "daily"]))
    base = np.datetime64("2020-01-01T00:00") + np.arange(n) * np.timedelta64(1, "h" if kind != "daily" else "D")
    dates = [str(d).replace("T", " ") for d in base]
    if kind == "shuffled":
        dates = draw(st.permutations(dates))
    elif kind == "repeated" and n > 1:
        i = draw(st.integers(1, n - 1))
        dates[i] = dates[i - 1]
    elif kind == "integers":
        dates = [str(i) for i in range(n)]
    elif kind == "text":
        dates = [draw(st.sampled_from(["x", "monday", "", "2020-13-45"])) for _ in range(n)]
    return dates


@st.composite
def series_csvs(draw) -> bytes:
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=200))
    n = draw(st.integers(0, 80))
    names = draw(st.lists(NAMES, min_size=1, max_size=4))
    clean = draw(st.booleans())  # half the time numeric channels, so many inputs get through to the search
    cols = []
    for _ in names:
        if clean:
            scale = draw(st.sampled_from([1.0, 1e-300, 1e6, 1e300]))
            cols.append([repr(float(v) * scale) for v in np.random.default_rng(draw(st.integers(0, 99))).normal(size=n)])
        else:
            cols.append(draw(st.lists(CELLS, min_size=n, max_size=n)))
    with_date = draw(st.booleans())
    header = (["date"] if with_date else []) + names
    dates = draw(date_columns(n)) if with_date else None
    lines = [",".join(header)]
    for i in range(n):
        lines.append(",".join(([dates[i]] if with_date else []) + [c[i] for c in cols]))
    return ("\n".join(lines) + "\n").encode()


FORECAST = ["--horizon", "2", "--lookback", "4", "--max-order", "2", "--split", "ratio", "--no-plot", "--json",
            "--overwrite"]


@FIXTURES
@given(csv=series_csvs(), columns=st.none() | st.lists(st.sampled_from(["a", "b", "c", "zz"]), min_size=1, max_size=3),
       rule=st.sampled_from(["grid", "kpss"]))
def test_forecast_on_generated_csv(csv, columns, rule, capsys):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "s.csv"
        path.write_bytes(csv)
        argv = ["forecast", "--data", str(path), *FORECAST, "--diff-rule", rule, "--out", f"{d}/run"]
        code = main(argv + (["--columns", *columns] if columns else []))
        out = capsys.readouterr()
        check_cli(out.err, code, "forecast csv")
        if code == 0:
            res = json.loads(out.out)
            assert all(np.isfinite(r["mse"]) and np.isfinite(r["mae"]) for r in res["results"])


NPY_DTYPES = st.sampled_from([np.float64, np.float32, np.int64, np.int8, np.bool_, np.complex128, np.dtype("<U3"),
                              np.dtype("datetime64[s]")])


@st.composite
def npy_files(draw) -> bytes:
    kind = draw(st.sampled_from(["array", "array", "bytes", "truncated", "object"]))
    buf = io.BytesIO()
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    if kind == "object":
        np.save(buf, np.array([{"a": 1}, None, "x"], dtype=object), allow_pickle=True)
        return buf.getvalue()
    arr = draw(hnp.arrays(NPY_DTYPES, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=60)))
    np.save(buf, arr)
    raw = buf.getvalue()
    return raw[: draw(st.integers(0, len(raw) - 1))] if kind == "truncated" else raw


@FIXTURES
@given(npy=npy_files())
def test_forecast_on_generated_npy(npy, capsys):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "s.npy"
        path.write_bytes(npy)
        code = main(["forecast", "--data", str(path), *FORECAST, "--date-column", "", "--out", f"{d}/run"])
        out = capsys.readouterr()
        check_cli(out.err, code, "forecast npy")
        if code == 0:
            assert all(np.isfinite(r["mse"]) for r in json.loads(out.out)["results"])


# ------------------------------------------------------------------------------------------ classification
@st.composite
def npz_files(draw) -> bytes:
    if draw(st.integers(0, 5)) == 0:
        return draw(st.binary(max_size=300))
    n = draw(st.integers(0, 30))
    shape = (n, *draw(st.lists(st.integers(0, 6), min_size=0, max_size=3)))
    x = draw(hnp.arrays(st.sampled_from([np.float32, np.float64, np.uint8, np.int64, np.bool_]), tuple(shape)))
    y_dtype = draw(st.sampled_from([np.dtype(np.int64), np.dtype(np.float64), np.dtype("<U2")]))
    few = st.sampled_from(["0", "1", "a"] if y_dtype.kind == "U" else [0, 1, 2])
    y = draw(hnp.arrays(y_dtype, (draw(st.sampled_from([n, max(n - 1, 0), n + 1])),),
                        elements=few if draw(st.booleans()) else None))
    keys = draw(st.sampled_from([("x", "y"), ("x",), ("images", "labels"), ("a", "y")]))
    buf = io.BytesIO()
    np.savez(buf, **dict(zip(keys, (x, y))))
    return buf.getvalue()


DNA = st.text(alphabet="ACGTNacgtn-XU >|\n;,", max_size=40)


@st.composite
def fasta_files(draw) -> bytes:
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=200))
    recs = draw(st.lists(st.tuples(st.sampled_from(["s|EI", "s|IE", "s label=N", "s", "", "s|"]), DNA), max_size=25))
    return "".join(f">{h}\n{seq}\n" for h, seq in recs).encode()


@st.composite
def dna_csvs(draw) -> bytes:
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=200))
    header = draw(st.sampled_from(["sequence,label", "label,sequence", "seq,label", "sequence", "sequence,label,x"]))
    rows = draw(st.lists(st.tuples(DNA.map(lambda s: s.replace(",", "").replace("\n", "")),
                                   st.sampled_from(["EI", "IE", "N", "", "0"])), max_size=25))
    return (header + "\n" + "".join(f"{s},{lab}\n" for s, lab in rows)).encode()


@FIXTURES
@given(kind=st.sampled_from(["npz", "fasta", "csv"]), data=st.data())
def test_load_task_on_generated_files(kind, data):
    from autofast.data.supervised import load_task

    content = data.draw({"npz": npz_files(), "fasta": fasta_files(), "csv": dna_csvs()}[kind])
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"data.{kind}"
        path.write_bytes(content)
        task = loads_or_refuses(lambda: load_task(str(path), seed=0), f"load_task {kind}")
        if task is not None:
            assert task.x_train.numel() > 0  # never an empty task reported as loaded
            assert all(np.isfinite(t.numpy()).all() for t in (task.x_train, task.x_val, task.x_test))


# ------------------------------------------------------------------------------------------ YAML files
YAML_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-5, 50), st.floats(allow_nan=True, width=32),
                        st.text(max_size=8), st.lists(st.integers(-2, 12), max_size=4),
                        st.sampled_from(["!!python/object/apply:os.system ['true']", "[1, 2", "{a: 1}", "*ref",
                                         "!!binary aGVsbG8=", "&a x", "\x00"]))


@st.composite
def yaml_texts(draw, keys: list) -> bytes:
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=100))
    pairs = draw(st.lists(st.tuples(st.sampled_from(keys + ["unknown", "", "- a"]), YAML_VALUES), max_size=6))
    text = "".join(f"{k}: {v if isinstance(v, str) else json.dumps(v)}\n" for k, v in pairs)
    if draw(st.booleans()):
        text = draw(st.sampled_from(["- 1\n- 2\n", "just text\n", ": :\n", "a: [\n", ""])) + text
    return text.encode("utf-8", "surrogatepass")


@FIXTURES
@given(data=st.data(), command=st.sampled_from(["dash", "search", "forecast", "finetune"]))
def test_config_files_merge_and_validate(data, command):
    import argparse

    from autofast.autoft.finetune import FinetuneConfig
    from autofast.commands import forecast
    from autofast.commands.options import merge_options, validated
    from autofast.commands.search import config_keys
    from autofast.dash.pipeline import DashConfig

    model = {"dash": DashConfig, "finetune": FinetuneConfig}.get(command)
    keys = ([*forecast.RUN_OPTIONS, *forecast.CONFIG_FIELDS, *forecast.RENAMED] if command == "forecast" else
            config_keys() if command == "search" else list(model.model_fields))
    content = data.draw(yaml_texts(keys))
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "c.yaml"
        path.write_bytes(content)

        def build():
            if command == "forecast":  # the command's own merge: flag-name keys, renamed old keys
                return forecast._forecast_options(argparse.Namespace(config=str(path)))
            if command == "search":
                from autofast.search.config import SearchConfig

                return validated(SearchConfig, merge_options(str(path), keys, {}))
            return validated(model, merge_options(str(path), keys, {}))

        loads_or_refuses(build, f"config {command}")


@FIXTURES
@given(data=st.data())
def test_task_files(data):
    from autofast.data.task_file import TaskFile, load_task_file

    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "x.csv").write_text("sequence,label\nACGT,EI\nACGA,IE\nACGG,EI\nACGC,IE\n")
        content = data.draw(yaml_texts(list(TaskFile.model_fields)))
        if data.draw(st.booleans()):
            content = b"data: " + data.draw(st.sampled_from([b"x.csv", b"/etc/hostname", b"/etc", b"missing.npz",
                                                              b"''"])) + b"\n" + content
        path = Path(d) / "t.yaml"
        path.write_bytes(content)
        loads_or_refuses(lambda: load_task_file(path), "task file")


# ------------------------------------------------------------------------------------------ command lines
class Reached(AutofastError):
    """Raised by the stubbed first expensive step: everything before it accepted the input."""


FLAG_VALUES = st.sampled_from(["0", "-1", "1", "3", "4", "0.5", "1e6", "nan", "inf", "x", "", "cuda:0", "cpu", "foo",
                               "splice", "digits", "ETTh1", "/dev/null/x", "resnet1d", "wrn16", "auto", "-",
                               "noise:2", "blur:9", "0-4", "EI", "full", "autoft", "pt", "model.pt"])
COMMAND_FLAGS = {
    "forecast": ["--data", "--columns", "--horizon", "--lookback", "--max-order", "--min-order", "--diff", "--diff-rule",
                 "--backend", "--device", "--split", "--ratios", "--selection", "--pooling"],
    "dash": ["--task", "--backbone", "--kernel-sizes", "--dilations", "--search-width", "--search-epochs", "--lr",
             "--threads", "--dropout", "--kind", "--lookback", "--horizon", "--batch-size", "--devices"],
    "search": ["--task", "--backbone", "--kernel-sizes", "--dilations", "--n-configs", "--eta", "--min-epochs",
               "--max-epochs", "--devices", "--threads", "--sampler", "--executor", "--warmup-epochs",
               "--retrain-epochs", "--resume"],
    "pretrain": ["--task", "--classes", "--shift", "--backbone", "--width", "--pattern", "--epochs", "--lr", "--format"],
    "finetune": ["--checkpoint", "--task", "--classes", "--arch", "--ood-val", "--ood-test", "--n-configs", "--eta",
                 "--metric", "--base-lr", "--resume"],
    "compare": ["--checkpoint", "--task", "--shots", "--seeds", "--finetune", "--baseline-backbone", "--eta"],
}


@st.composite
def command_lines(draw):
    command = draw(st.sampled_from(sorted(COMMAND_FLAGS)))
    argv = [command]
    for flag in draw(st.lists(st.sampled_from(COMMAND_FLAGS[command]), max_size=4, unique=True)):
        argv += [flag, *draw(st.lists(FLAG_VALUES, min_size=0, max_size=3))]
    return argv


@FIXTURES
@given(argv=command_lines())
def test_command_lines(argv, capsys):
    import autofast.autoft.compare as compare
    import autofast.autoft.finetune as finetune
    import autofast.autoft.pretrain as pretrain
    import autofast.dash.pipeline as dash_pipeline
    import autofast.forecast as forecast
    import autofast.search.pipeline as search_pipeline

    def reached(*a, **k):
        raise Reached("REACHED")

    threads = {v: os.environ.get(v) for v in THREAD_VARS}
    with pytest.MonkeyPatch.context() as m, tempfile.TemporaryDirectory() as d:
        for var, value in threads.items():  # --threads changes them: restored after the example
            m.setenv(var, value) if value is not None else m.delenv(var, raising=False)
        m.setattr(forecast, "run_autoar", reached)
        m.setattr(dash_pipeline, "search_architecture", reached)
        m.setattr(search_pipeline, "search_architecture", reached)
        m.setattr(pretrain, "run_pretrain", reached)
        m.setattr(finetune, "run_finetune", reached)
        m.setattr(compare, "run_compare", reached)
        m.chdir(d)  # default run folders go here
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse: one usage line, exit 2
            code = exc.code
        check_cli(capsys.readouterr().err, code, "command line")
    configure_runtime()
