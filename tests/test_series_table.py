"""CSV tables of series, long (one row per step: id, time, channels, label) and wide with an id column
(autofast/data/series_table.py): what they read as, and one error line for each way they go wrong."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from autofast.data.files import guess_kind, load_file
from autofast.data.series_table import TableColumns, read_series_table
from autofast.data.task_file import load_task_file
from autofast.errors import AutofastError


def _series(n=6, channels=3, seed=0):
    """n random series of 3 channels and lengths 5..10, labels 'a'/'b' alternating."""
    rng = np.random.default_rng(seed)
    return ([rng.normal(size=(channels, int(rng.integers(5, 11)))) for _ in range(n)],
            ["a" if i % 2 == 0 else "b" for i in range(n)])


def _long_frame(series, labels, shuffle=True, times=None):
    rows = []
    for i, (s, lab) in enumerate(zip(series, labels)):
        for t in range(s.shape[1]):
            rows.append({"id": f"rec-{i}", "time": t if times is None else times[t],
                         **{f"ch{c}": s[c, t] for c in range(s.shape[0])}, "label": lab})
    df = pd.DataFrame(rows)
    return df.sample(frac=1, random_state=1) if shuffle else df


def test_long_table_reads_each_series_with_its_channels_in_time_order(tmp_path):
    series, labels = _series()
    df = _long_frame(series, labels)
    path = tmp_path / "long.csv"
    df.to_csv(path, index=False)
    assert guess_kind(path) == "series"
    table = read_series_table(path)
    order = [int(i.split("-")[1]) for i in pd.unique(df["id"])]  # series in the order of their first row
    assert table.ids == [f"rec-{i}" for i in order] and table.channels == ["ch0", "ch1", "ch2"]
    assert table.labels == [labels[i] for i in order]
    for got, i in zip(table.series, order):
        np.testing.assert_array_equal(got, series[i])  # float64, exact
    data = load_file(path)  # brought to the longest length, channel names kept
    assert data.x.shape == (6, 3, max(s.shape[1] for s in series)) and data.channel_names == ("ch0", "ch1", "ch2")


def test_long_table_without_time_column_keeps_file_order_and_takes_dates(tmp_path):
    series, labels = _series(n=4, channels=1)
    df = _long_frame(series, labels, shuffle=False).drop(columns=["time"])
    df = df[["label", "ch0", "id"]]  # columns in any order; one channel
    path = tmp_path / "uni.csv"
    df.to_csv(path, index=False, sep=";", decimal=",")  # a spreadsheet's CSV
    table = read_series_table(path)
    for got, s in zip(table.series, series):
        np.testing.assert_allclose(got, s, rtol=1e-12)
    dates = [f"2026-01-{d:02d} 10:00" for d in range(1, 12)]
    df = _long_frame(series, labels, times=dates)  # shuffled rows, ordered by their dates
    df.to_csv(path, index=False)
    for got, i in zip(read_series_table(path).series, [int(i.split("-")[1]) for i in pd.unique(df["id"])]):
        np.testing.assert_array_equal(got, series[i])


def test_wide_table_with_unique_ids_does_not_read_the_id_as_a_step(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text("id,label,t0,t1,t2\n17,up,1,2,3\n18,down,3,2,1\n")
    table = read_series_table(path)
    assert table.ids == ["17", "18"] and table.channels is None
    np.testing.assert_array_equal(np.stack(table.series), [[[1, 2, 3]], [[3, 2, 1]]])


def test_val_and_test_files_read_the_training_channels_by_name(tmp_path):
    series, labels = _series(n=8)
    _long_frame(series, labels).to_csv(tmp_path / "train.csv", index=False)
    test = _long_frame(series[:4], labels[:4])
    test = test.assign(extra=test["ch0"] + 1)[["id", "time", "label", "ch2", "extra", "ch0", "ch1"]]  # reordered, +1
    test.to_csv(tmp_path / "test.csv", index=False)
    (tmp_path / "t.yaml").write_text("train: train.csv\ntest: test.csv\n")
    _, data, _ = load_task_file(tmp_path / "t.yaml")
    assert data.channel_names == ("ch0", "ch1", "ch2")
    plain = load_file(tmp_path / "train.csv")
    rows = np.flatnonzero(data.origin == 2)
    want = {i: x for i, x in zip(pd.unique(pd.read_csv(tmp_path / "train.csv")["id"]), plain.x)}
    got_ids = pd.unique(pd.read_csv(tmp_path / "test.csv")["id"])
    for r, name in zip(rows, got_ids):  # the test file's series equal the training file's, channel for channel
        np.testing.assert_array_equal(data.x[r], want[name])
    test.drop(columns=["ch1"]).to_csv(tmp_path / "test.csv", index=False)
    with pytest.raises(AutofastError, match=r"test.csv: no channel column 'ch1' \(the training file's channels: "
                                            r"ch0, ch1, ch2"):
        load_task_file(tmp_path / "t.yaml")


@pytest.mark.parametrize("text, message", [
    ("id,time,x,label\na,0,1,up\na,1,2,down\nb,0,1,up\n", r"series 'a' has labels 'up' and 'down'"),
    ("id,time,x,label\na,0,1,up\na,0,2,up\nb,0,1,up\n", r"row 3: series 'a' has two rows at time '0'"),
    ("id,time,x,label\na,0,1,up\na,soon,2,up\nb,0,1,up\n", r"column 'time' row 3 holds 'soon', not a number or date"),
    ("id,time,x,label\na,0,1,up\na,1,,up\nb,0,1,up\n", r"row 3: column 'x' is empty or not finite"),
    ("id,time,x,label\na,0,1,up\na,1,hi,up\nb,0,1,up\n", r"column 'x' is not a number \(row 3 holds 'hi'\)"),
    ("id,time,x,label\na,0,1,up\n,1,2,up\nb,0,1,up\n", r"row 3 has an empty 'id'"),
    ("id,time,label\na,0,up\na,1,up\n", r"needs at least one numeric channel column"),
    # an empty label was a class named '' (wide and long tables), or with every label empty, no labels
    ("label,t0,t1\nup,1,2\n,2,3\ndown,3,4\n", r"row 3 has an empty 'label'; fill it in or drop the row"),
    ("id,time,x,label\na,0,1,up\na,1,2,up\nb,0,1,\nb,1,1,\n", r"row 4 has an empty 'label'"),
    ("label,t0,t1\n,1,2\n,2,3\n", r"column 'label' is empty; give every series its class"),
    # whole series per row under a repeated subject id (a wide table): not read as 4 channels of 2 steps
    ("id,label,t0,t1,t2,t3\na,up,1,2,3,4\na,up,2,3,4,5\nb,down,4,3,2,1\n", r"'id' repeats, so each row is read as one "
                                                                          r"step .* drop or rename the 'id' column"),
])
def test_bad_long_tables_are_one_line_each(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(AutofastError, match=message) as err:
        read_series_table(path)
    assert str(err.value).startswith(str(path)) and "\n" not in str(err.value)


def test_task_file_names_the_columns(tmp_path):
    path = tmp_path / "rec.csv"
    path.write_text("subject,t,value,activity\ns1,2,3.0,run\ns1,1,1.0,run\ns2,1,5.0,walk\ns2,2,4.0,walk\n")
    assert guess_kind(path) == "dna"  # no 'label' column: not a table of series by default
    (tmp_path / "rec.yaml").write_text("data: rec.csv\nkind: series\nid_column: subject\ntime_column: t\n"
                                       "label_column: activity\n")
    table = read_series_table(path, TableColumns("activity", "subject", "t"))
    assert table.ids == ["s1", "s2"] and table.labels == ["run", "walk"]
    np.testing.assert_array_equal(np.stack(table.series), [[[1.0, 3.0]], [[5.0, 4.0]]])
    _, data, _ = load_task_file(tmp_path / "rec.yaml")
    assert data.x.shape == (2, 1, 2) and data.classes == ["run", "walk"]


def test_times_with_utc_offsets_order_on_one_clock(tmp_path):
    path = tmp_path / "tz.csv"  # 00:00+01:00 is 23:00 the day before in UTC: first
    path.write_text("id,time,x,label\n1,2026-01-01T01:00:00Z,4,b\n1,2026-01-01T00:00:00+01:00,3,b\n"
                    "2,2026-01-01T00:00:00Z,1,a\n2,2026-01-01T01:00:00,2,a\n")
    table = read_series_table(path)
    assert [s.tolist() for s in table.series] == [[[3.0, 4.0]], [[1.0, 2.0]]] and table.labels == ["b", "a"]


def test_padded_header_names_and_numeric_ids(tmp_path):
    path = tmp_path / "pad.csv"  # " id " is the id column; its numbers are names, not steps
    path.write_text(" id , x ,label\n1,1,a\n1,2,a\n2,3,b\n2,4,b\n")
    table = read_series_table(path)
    assert table.ids == ["1", "2"] and table.channels == ["x"] and table.labels == ["a", "b"]


@pytest.mark.parametrize("label", ["Label", "Class", "target"])
def test_capitalised_headers_and_label_columns_called_class_or_target(label, tmp_path):
    """Spreadsheets write 'Label', 'ID', 'Time', 'Sequence': read as the lower-case names (they were 'column(s)
    sequence, label not found'); scikit-learn's and UCI's 'class'/'target' name the labels where no column is called
    'label' (they were "no column 'label'")."""
    from autofast.data.dna import load_dna
    from autofast.data.files import load_file

    wide = tmp_path / "wide.csv"
    wide.write_text(f"t0,t1,t2,{label}\n1,2,3,up\n3,2,1,down\n1,2,4,up\n")
    data = load_file(wide)
    assert data.classes == ["down", "up"] and data.x.shape == (3, 1, 3) and data.y.tolist() == [1, 0, 1]
    long = tmp_path / "long.csv"
    long.write_text(f"ID,Time,x,{label}\na,1,5,up\na,0,4,up\nb,0,1,down\nb,1,2,down\n")
    table = read_series_table(long)
    assert table.ids == ["a", "b"] and table.series[0].tolist() == [[4.0, 5.0]] and table.labels == ["up", "down"]
    dna = tmp_path / "dna.csv"
    dna.write_text(f"Sequence,{label}\nACGT,a\nTTGA,b\n")
    assert load_dna(dna).classes == ["a", "b"]


def test_label_name_ambiguity_and_a_text_column_among_the_steps(tmp_path):
    """With both 'class' and 'target' neither is guessed; beside 'label', 'class' is a step; a column of text
    among the steps (a subject's name, a date) is metadata, not read; one with some numbers is named."""
    from autofast.data.files import load_file

    both = tmp_path / "both.csv"
    both.write_text("class,target,t0,t1\na,x,1,2\nb,y,2,1\n")
    with pytest.raises(AutofastError, match=r"no column 'label'.*'class' or 'target'"):
        read_series_table(both)
    labelled = tmp_path / "labelled.csv"
    labelled.write_text("label,class,t0\na,1,2\nb,1,3\n")
    data = load_file(labelled)
    assert data.classes == ["a", "b"] and data.x.shape == (2, 1, 2)
    text = tmp_path / "text.csv"
    text.write_text("label,subject,day,t0,t1,t2\nup,Bob,2024-01-02,1,2,3\ndown,Ann,NA,3,2,1\n")
    data = load_file(text)  # was "column 'subject' is not a number": the user had to edit the file
    assert data.x.shape == (2, 1, 3) and data.x[1, 0].tolist() == [3, 2, 1]
    assert data.step_names == ("t0", "t1", "t2") and data.text_columns == ("subject", "day")
    text.write_text("label,subject,t0,t1,t2\nup,Bob,1,2,3\ndown,7,3,2,1\n")  # a number among the text: a step?
    with pytest.raises(AutofastError, match=r"column 'subject' is not a number \(row 2 holds 'Bob'\).*'ignore_columns:'"):
        load_file(text)


def test_ignore_columns_and_text_columns_in_training_and_predict(tmp_path):
    """A numeric metadata column (an age) named under 'ignore_columns:' is not a step, in the training file and
    in predict's new data; a wrong name there is one line; new data with the metadata columns beside the
    training steps (in another order) is read by the steps' names."""
    from autofast.predictor.inputs import InputReader

    rows = ["label,subject,age,t0,t1,t2"] + [f"{'up' if i % 2 else 'down'},s{i},{20 + i},{i},{i + 1},{i + 2}"
                                             for i in range(8)]
    (tmp_path / "d.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "t.yaml").write_text("data: d.csv\nkind: series\nignore_columns: [age]\n")
    _, data, _ = load_task_file(tmp_path / "t.yaml")
    assert data.x.shape == (8, 1, 3) and data.x[3, 0].tolist() == [3, 4, 5] and data.text_columns == ("subject",)
    (tmp_path / "typo.yaml").write_text("data: d.csv\nkind: series\nignore_columns: [agee]\n")
    with pytest.raises(AutofastError, match=r"d.csv: no column 'agee' to ignore .*fix the name under 'ignore_columns:'"):
        load_task_file(tmp_path / "typo.yaml")
    new = tmp_path / "new.csv"
    new.write_text("t2,age,t0,note,t1\n5,9,3,late,4\n")
    reader = InputReader({"classes": ["down", "up"], "kind": "series", "input": {
        "shape": [1, 3], "series": {"channels": 1, "length": 3, "length_rule": "pad", "label_column": "label",
                                    "step_columns": ["t0", "t1", "t2"], "ignore_columns": ["age"]}}})
    assert reader.prepare(new).x[0, 0].tolist() == [3, 4, 5]


def test_a_long_table_with_a_site_column_and_its_time_named_timestamp(tmp_path):
    """A long table's text column (a site) is metadata and does not make the file a DNA table; 'timestamp' (or
    'date') orders the rows where there is no 'time' column; dates under another name are one error line (file
    order is not time order)."""
    series, labels = _series(channels=1)
    df = _long_frame(series, labels, times=pd.date_range("2024-01-01", periods=10, freq="h").astype(str))
    df = df.rename(columns={"time": "timestamp"}).assign(site="north")
    df.to_csv(tmp_path / "long.csv", index=False)
    assert guess_kind(tmp_path / "long.csv") == "series"
    table = read_series_table(tmp_path / "long.csv")
    assert table.text == ["site"] and table.channels == ["ch0"]
    for name, got in zip(table.ids, table.series):
        np.testing.assert_allclose(got, series[int(name.split("-")[1])])
    df.rename(columns={"timestamp": "recorded_at"}).to_csv(tmp_path / "other.csv", index=False)
    with pytest.raises(AutofastError, match=r"column 'recorded_at' holds dates and there is no 'time' column"):
        read_series_table(tmp_path / "other.csv")
    dna = tmp_path / "dna.csv"  # a DNA table whose sequence column has another name is not a table of series
    dna.write_text("id,seq,score,label\na,ACGTACGTAC,1.5,x\nb,TTGACCGTAA,2.5,y\n")
    assert guess_kind(dna) != "series"


def test_whole_numbers_written_as_floats_are_one_class(tmp_path):
    """'3.0' (a float column saved by pandas or a spreadsheet) and '3' are the class '3', in training and test
    files and in predict (the test file's '3' was an unknown class beside the training file's '3.0')."""
    from autofast.data.task_file import load_task_file
    from autofast.predictor.inputs import InputReader

    (tmp_path / "train.csv").write_text("label,t0,t1\n1.0,1,2\n2.0,2,1\n1.0,1,3\n2.0,3,1\n")
    (tmp_path / "test.csv").write_text("label,t0,t1\n1,1,2\n2,2,1\n")
    (tmp_path / "t.yaml").write_text("train: train.csv\ntest: test.csv\n")
    _, data, _ = load_task_file(tmp_path / "t.yaml")
    assert data.classes == ["1", "2"] and data.y.tolist() == [0, 1, 0, 1, 0, 1]
    reader = InputReader({"classes": ["1.0", "2.0"], "kind": "series", "input": {"shape": [1, 2]}})  # an older run
    assert reader.label_indices(["1", "2.0"], "x").tolist() == [0, 1]


def test_a_wide_table_with_the_training_steps_reordered_is_read_by_name(tmp_path):
    """A test file or new data whose step columns are the training file's names in another order (pandas'
    df[sorted(columns)] puts t10 before t2) was read by position: silently other series."""
    from autofast.data.task_file import load_task_file

    names = [f"t{i}" for i in range(12)]
    rng = np.random.default_rng(0)
    train = pd.DataFrame(rng.normal(size=(6, 12)), columns=names).assign(label=["a", "b"] * 3)
    test = pd.DataFrame(rng.normal(size=(4, 12)), columns=names).assign(label=["a", "b"] * 2)
    train.to_csv(tmp_path / "train.csv", index=False)
    test[["label", *sorted(names)]].to_csv(tmp_path / "test.csv", index=False)  # t0, t1, t10, t11, t2, ...
    (tmp_path / "t.yaml").write_text("train: train.csv\ntest: test.csv\n")
    _, data, _ = load_task_file(tmp_path / "t.yaml")
    assert data.step_names == tuple(names)
    np.testing.assert_allclose(data.x[6:, 0], test[names].to_numpy(), rtol=1e-6)
    other = test.rename(columns={n: f"s{i}" for i, n in enumerate(names)})  # other names: by position
    other.to_csv(tmp_path / "other.csv", index=False)
    table = read_series_table(tmp_path / "other.csv", TableColumns(steps=tuple(names)))
    np.testing.assert_allclose(np.stack([s[0] for s in table.series]), test[names].to_numpy())


def test_new_data_of_steps_alone_without_a_header_are_unlabelled_series(tmp_path):
    """A headerless CSV whose rows hold the model's steps alone (a wide table's steps saved with header=False) was
    read as UCR rows: its first step taken as a label and the series one step short. Rows of a label and the
    steps are still UCR rows."""
    from autofast.predictor.inputs import InputReader

    names = [f"t{i}" for i in range(5)]
    reader = InputReader({"classes": ["a", "b"], "kind": "series", "input": {
        "shape": [1, 5], "series": {"channels": 1, "length": 5, "length_rule": "pad", "step_columns": names}}})
    rows = np.arange(15, dtype=float).reshape(3, 5) + 0.5
    np.savetxt(tmp_path / "steps.csv", rows, delimiter=",")
    got = reader.prepare(tmp_path / "steps.csv")
    assert got.labels is None and got.x.shape == (3, 1, 5)
    np.testing.assert_allclose(got.x[:, 0].numpy(), rows)
    (tmp_path / "ucr.csv").write_text("".join(f"{'ab'[i % 2]}," + ",".join(map(str, r)) + "\n"
                                              for i, r in enumerate(rows)))
    got = reader.prepare(tmp_path / "ucr.csv")
    assert got.labels.tolist() == [0, 1, 0]
    np.testing.assert_allclose(got.x[:, 0].numpy(), rows)


def test_day_first_times_in_a_long_table_keep_their_order(tmp_path):
    """dd/mm/yyyy times were read cell by cell: 02/01 as 1 February beside 13/01 as 13 January, so a month's
    series came out as days 1, 13, 14, ..., 30, 2, ..., 12. One reading for the column now."""
    days = pd.date_range("2024-01-01", periods=30, freq="D")
    rows = [{"id": "a", "time": d.strftime("%d/%m/%Y"), "x": float(d.day), "label": "up"} for d in days]
    rows += [{"id": "b", "time": d.strftime("%d/%m/%Y"), "x": -float(d.day), "label": "down"} for d in days]
    pd.DataFrame(rows).sample(frac=1, random_state=0).to_csv(tmp_path / "dmy.csv", index=False)
    table = read_series_table(tmp_path / "dmy.csv")
    assert table.series[table.ids.index("a")][0].tolist() == list(range(1, 31))


def test_a_step_column_empty_throughout_is_named(tmp_path):
    """An all-empty column among the steps was 'row 2 (series 1) has an empty or non-finite field inside the series';
    empty columns at the end are shorter series, as before."""
    (tmp_path / "mid.csv").write_text("label,t0,bad,t1\na,1,,2\nb,3,,4\n")
    with pytest.raises(AutofastError, match="column 'bad' is empty in every row; drop the column"):
        read_series_table(tmp_path / "mid.csv")
    (tmp_path / "tail.csv").write_text("label,t0,t1,t2,t3\na,1,2,,\nb,3,4,,\n")
    assert [x.shape for x in read_series_table(tmp_path / "tail.csv").series] == [(1, 2), (1, 2)]


def test_step_columns_under_other_names_pandas_index_and_a_time_column_predict_must_keep(tmp_path):
    """A long table's time column called 't' (or 'step') was read as a channel and the rows kept in file order
    (GunPoint 0.55 for 0.99); a step count under another name is refused; pandas' unnamed index column was read
    as step 0; new data without the time column the training table was ordered by was read in file order."""
    series, labels = _series(channels=1)
    df = _long_frame(series, labels).rename(columns={"time": "t"})
    df.to_csv(tmp_path / "t.csv", index=False)
    table = read_series_table(tmp_path / "t.csv")
    assert table.channels == ["ch0"] and table.timed
    for name, got in zip(table.ids, table.series):
        np.testing.assert_allclose(got, series[int(name.split("-")[1])])
    df.rename(columns={"t": "position"}).to_csv(tmp_path / "pos.csv", index=False)
    with pytest.raises(AutofastError, match=r"column 'position' numbers the steps .*'time_column: position'"):
        read_series_table(tmp_path / "pos.csv")
    with pytest.raises(AutofastError, match=r"no column 't'; the model's training table put each series' rows in order"):
        read_series_table(tmp_path / "pos.csv", TableColumns(time="t", channels=("ch0",), timed=True))
    wide = pd.DataFrame(np.arange(12.0).reshape(3, 4) + 10, columns=["t0", "t1", "t2", "t3"]).assign(label=["a", "b", "a"])
    wide.to_csv(tmp_path / "wide.csv")  # pandas' default: the index first, its header empty
    table = read_series_table(tmp_path / "wide.csv")
    assert table.ids == ["0", "1", "2"] and [s.shape for s in table.series] == [(1, 4)] * 3
    np.testing.assert_array_equal(table.series[1][0], [14, 15, 16, 17])


def test_a_long_table_whose_id_column_has_another_name_is_not_read_as_short_wide_rows(tmp_path):
    """'series_id' (text) beside one channel: the text column was set aside and every row read as a series of
    one or two steps; with few numeric columns a repeated id-like column names the fix."""
    series, labels = _series(channels=1)
    _long_frame(series, labels).rename(columns={"id": "series_id"}).to_csv(tmp_path / "l.csv", index=False)
    with pytest.raises(AutofastError, match=r"column 'series_id' repeats .*'id_column: series_id'"):
        read_series_table(tmp_path / "l.csv")
