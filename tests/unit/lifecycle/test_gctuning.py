import gc

import pytest

from navarch.lifecycle import gctuning


@pytest.fixture
def restore_gc():
    before = gc.get_threshold()
    yield
    gc.set_threshold(*before)
    gc.unfreeze()


def test_tune_for_throughput_raises_the_thresholds(restore_gc):
    gctuning.tune_for_throughput()
    assert gc.get_threshold() == gctuning.THRESHOLDS
    assert gctuning.THRESHOLDS[0] > 700  # CPython's default young threshold
    gctuning.tune_for_throughput((1000, 5, 5))
    assert gc.get_threshold() == (1000, 5, 5)


def test_freeze_startup_heap_exempts_live_objects(restore_gc):
    kept = [[i] for i in range(100)]  # lists are always tracked by the collector
    gctuning.freeze_startup_heap()
    assert gc.get_freeze_count() >= len(kept)
    assert gc.isenabled()  # later objects are still collected
