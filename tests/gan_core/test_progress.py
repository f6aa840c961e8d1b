"""Progress bars redraw sparsely when stderr is a log file rather than a terminal."""
import io

from gan_core.progress import LOG_INTERVAL_S, advance_to, is_terminal, kimg_bar, progress_bar


class _Tty(io.StringIO):
    def isatty(self):
        return True


def _drive(stream, n=2000):
    with progress_bar(total=n, desc="work", unit="img", file=stream) as bar:
        for _ in range(n):
            bar.update(1)
    return stream.getvalue()


def test_log_file_gets_a_few_redraws_not_thousands():
    text = _drive(io.StringIO())
    # the first draw and the closing one; nothing in between within LOG_INTERVAL_S
    assert text.count("\r") <= 3, text
    assert "work: 2000/2000 img" in text
    assert "%|" not in text  # no bar graphic in a log


def test_terminal_keeps_the_live_bar():
    bar = progress_bar(total=10, file=_Tty())
    assert bar.mininterval < LOG_INTERVAL_S
    bar.close()
    assert "100%|" in _drive(_Tty(), 10)


def test_is_terminal_tolerates_odd_streams():
    class Closed:
        def isatty(self):
            raise ValueError("I/O operation on closed file")
    assert not is_terminal(Closed())
    assert not is_terminal(None)
    assert not is_terminal(object())
    assert is_terminal(_Tty())


def test_unsized_progress_in_a_log_has_no_total():
    s = io.StringIO()
    with progress_bar(desc="dataset", unit="img", file=s) as bar:
        bar.update(5)
    assert "dataset: 5 img" in s.getvalue()


def test_kimg_bar_prints_clean_counts():
    s = io.StringIO()
    with kimg_bar("train", 1000, 0, file=s, mininterval=0) as bar:
        for step in range(1, 14):   # 13 steps of batch 16: 0.208 kimg, not 0.20800000000000007
            advance_to(bar, step * 16)
    text = s.getvalue()
    assert "train: 0.208/1 kimg" in text, text
    assert "00000000" not in text, text
