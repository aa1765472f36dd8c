from navarch.machinery.clock import FakeClock
from navarch.machinery.expectations import ControllerExpectations, UIDTrackingExpectations


def test_no_record_is_satisfied():
    assert ControllerExpectations(FakeClock()).satisfied("ns/rs")


def test_creations_must_all_be_observed():
    exp = ControllerExpectations(FakeClock())
    exp.expect_creations("ns/rs", 2)
    assert not exp.satisfied("ns/rs")
    exp.creation_observed("ns/rs")
    assert exp.pending("ns/rs") == (1, 0)
    assert not exp.satisfied("ns/rs")
    exp.creation_observed("ns/rs")
    assert exp.satisfied("ns/rs")


def test_failed_writes_are_lowered_by_the_controller():
    exp = ControllerExpectations(FakeClock())
    exp.expect_creations("k", 3)
    exp.lower_expectations("k", adds=2)  # two creates failed
    exp.creation_observed("k")
    assert exp.satisfied("k")


def test_expectations_expire_after_five_minutes():
    clock = FakeClock()
    exp = ControllerExpectations(clock)
    exp.expect_deletions("k", 1)
    clock.advance(299)
    assert not exp.satisfied("k")
    clock.advance(2)
    assert exp.satisfied("k")


def test_raise_adds_to_existing_and_setting_again_restarts_the_timer():
    clock = FakeClock()
    exp = ControllerExpectations(clock)
    exp.expect_creations("k", 1)
    exp.raise_expectations("k", adds=1, deletes=1)
    assert exp.pending("k") == (2, 1)
    clock.advance(200)
    exp.expect_creations("k", 1)
    clock.advance(200)
    assert not exp.satisfied("k")
    exp.delete_expectations("k")
    assert exp.pending("k") is None and exp.satisfied("k")


def test_uid_tracking_counts_each_deleted_uid_once():
    exp = UIDTrackingExpectations(ControllerExpectations(FakeClock()))
    exp.expect_deletions("k", ["u1", "u2"])
    exp.deletion_observed("k", "u1")
    exp.deletion_observed("k", "u1")  # update with deletionTimestamp, then the delete event
    exp.deletion_observed("k", "other")
    assert not exp.satisfied("k")
    assert exp.pending_uids("k") == {"u2"}
    exp.deletion_observed("k", "u2")
    assert exp.satisfied("k")
