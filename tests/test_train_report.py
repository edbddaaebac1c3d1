"""The per-epoch table of ``pimjax train`` (``pimjax.apps.train._report``): short rows, per-epoch
seconds, compact event counts; the full record stays in the metrics files."""

from pimjax.apps.train._report import EpochTable, _count, compile_notice


def _rec(epoch, step, seconds, partial=False, **kw):
    return {"epoch": epoch, "step": step, "partial": partial, "train_loss": 0.5, "test_accuracy": 0.9,
            "test_loss": 0.3, "overflow": 0, "nan": 0, "inf": 0, "random_bits": 169510699008, "seconds": seconds, **kw}


def test_rows_are_short_and_count_each_epochs_seconds():
    t = EpochTable()
    first = t.row(_rec(1, 10, 80.0, overflow=12345, nan=1, inf=2)).splitlines()
    assert len(first) == 2 and first[0].split()[:3] == ["epoch", "steps", "train"]
    assert "test acc" in first[0] and "random" not in first[0]
    assert first[1].split() == ["1", "10", "0.5000", "0.9000", "0.3000", "12.3k", "3", "80.0"]
    second = t.row(_rec(2, 20, 90.5, partial=True)).splitlines()
    assert len(second) == 1 and second[0].split()[0] == "2*" and second[0].split()[-1] == "10.5"
    assert all(len(line) < 100 for line in first + second)


def test_resumed_table_counts_from_the_last_full_epoch():
    t = EpochTable()
    t.start([_rec(1, 10, 80.0), _rec(2, 15, 85.0, partial=True)])
    assert t.row(_rec(2, 20, 100.0)).splitlines()[-1].split()[-1] == "20.0"


def test_counts_and_notice():
    assert [_count(v) for v in (0, 9999, 12345, 4_500_000, 169510699008)] == ["0", "9999", "12.3k", "4.5M", "170G"]
    assert compile_notice() == "pimjax train: compiling the training step (first step only) ..."
