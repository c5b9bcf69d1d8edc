"""compare's score-vs-size plot: written, and its log x axis ticked at the shot counts' example numbers with
plain labels (matplotlib's default log labels overlapped)."""
from autofast.autoft.report import _plot_compare, compare_figure
from autofast.reporting import plt, set_log_x_ticks


def _result(shots=(2, 3, 5, 10, 20), classes=5):
    table, rows = [], []
    for k in shots:
        for arm, score in (("pretrained", 0.8), ("baseline", 0.6)):
            table.append({"shots": k, "arm": arm, "val_shots": k, "n_train": classes * k, "n_val": classes * k,
                          "test": {"mean": score, "std": 0.01, "n": 2}})
            rows += [{"arm": arm, "n_train": classes * k, "n_val": classes * k, "test_score": score, "seed": s}
                     for s in (0, 1)]
    return {"table": table, "rows": rows, "metric": "accuracy", "task": "digits", "seeds": [0, 1]}


def test_compare_plot_is_written_with_ticks_at_the_shot_counts(tmp_path):
    r = _result()
    fig, ax = compare_figure(r)
    fig.canvas.draw()
    assert ax.get_xscale() == "log"
    assert list(ax.get_xticks()) == [20, 30, 50, 100, 200]  # 2 x 5 classes x (train + val) per shot count
    assert [t.get_text() for t in ax.get_xticklabels()] == [f"{2 * 5 * k}\n{k}/class" for k in (2, 3, 5, 10, 20)]
    assert all(not t.get_text() for t in ax.get_xticklabels(minor=True))
    plt().close(fig)
    _plot_compare(tmp_path / "score_vs_size.png", r)
    assert (tmp_path / "score_vs_size.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_log_x_ticks_default_to_plain_values():
    fig, ax = plt().subplots()
    ax.plot([3, 1500], [0, 1])
    assert set_log_x_ticks(ax, [1500, 3, 3.0]) == [3.0, 1500.0]
    fig.canvas.draw()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["3", "1500"]
    plt().close(fig)


def test_crowded_log_ticks_keep_their_marks_but_not_every_label():
    """--selection full-val adds the whole validation split to every count: 510, 515, 525, ... sit together."""
    fig, ax = plt().subplots()
    ax.plot([500, 5000], [0, 1])
    assert set_log_x_ticks(ax, [510, 515, 525, 550, 5000]) == [510, 515, 525, 550, 5000]
    fig.canvas.draw()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["510", "", "", "", "5000"]
    plt().close(fig)


def test_font_fallback_warnings_stay_off_the_terminal(caplog):
    """A font cache written by another matplotlib (one that ships no fonts) made every plot print ~20
    'findfont: Font family [...] not found' lines (matplotlib logs them as warnings); the fallback is silent now."""
    import logging

    import matplotlib.font_manager as fm

    pyplot = plt()
    with caplog.at_level(logging.INFO):
        fm.findfont(fm.FontProperties(family="NoSuchFamilyInAnyCache"))
        fig = pyplot.figure()
        fig.text(0.5, 0.5, "x", family="NoSuchFamilyInAnyCache")
        fig.canvas.draw()
        pyplot.close(fig)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING and "findfont" in r.getMessage()]
