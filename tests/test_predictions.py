import h5py
import numpy as np
import pytest

from helpers.errors import UserError
from helpers.evaluation.predictions import Predictions, align, load, video_groups

NAMES = ["ApplyEyeMakeup", "Basketball", "YoYo"]


def _pred(order=(0, 1, 2, 3), **attrs) -> Predictions:
    ids = ["v_ApplyEyeMakeup_g01_c01", "v_Basketball_g02_c03", "v_YoYo_g07_c02",
           "v_YoYo_g25_c01"]
    labels = np.array([0, 1, 2, 2])
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4], [0.5, 0.25, 0.25]],
                     dtype=np.float32)
    idx = list(order)
    return Predictions([ids[i] for i in idx], labels[idx], probs[idx], NAMES, attrs)


def test_round_trip_keeps_arrays_and_every_attribute(tmp_path):
    attrs = {"model": "resnet50 (frame)", "checkpoint_sha256": "ab" * 32, "split": 1,
             "subset": "test", "frame_accuracy": 0.6125, "three_crop": False,
             "config": {"lr": 1e-3, "clip_len": 16, "nested": {"a": [1, 2]}},
             "sources": ["a", "b"], "note": None, "numpy_scalar": np.float32(0.5)}
    p = _pred(**attrs)
    path = p.save(tmp_path / "sub" / "pred.h5")
    q = load(path)
    assert q.video_ids == p.video_ids and q.class_names == NAMES
    np.testing.assert_array_equal(q.labels, p.labels)
    assert q.labels.dtype == np.int64 and q.probs.dtype == np.float32
    np.testing.assert_array_equal(q.probs, p.probs)
    expected = dict(attrs, numpy_scalar=0.5)
    assert q.attrs == expected
    assert type(q.attrs["split"]) is int and type(q.attrs["three_crop"]) is bool
    assert Predictions.load(path).attrs == expected
    # atomic write: only the final file is left, and scalars are plain HDF5 attributes
    assert sorted(x.name for x in path.parent.iterdir()) == ["pred.h5"]
    with h5py.File(path) as f:
        assert f.attrs["split"] == 1 and f.attrs["model"] == "resnet50 (frame)"


def test_save_replaces_an_existing_file(tmp_path):
    path = tmp_path / "p.h5"
    _pred(model="old").save(path)
    _pred(order=(3, 2, 1, 0), model="new").save(path)
    q = load(path)
    assert q.attrs["model"] == "new" and q.video_ids[0] == "v_YoYo_g25_c01"


def test_load_refuses_missing_foreign_and_damaged_files(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load(tmp_path / "nope.h5")
    (tmp_path / "text.h5").write_text("not hdf5")
    with pytest.raises(UserError, match="Cannot read"):
        load(tmp_path / "text.h5")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["video"] = np.zeros((2, 2, 2, 3), np.uint8)
    with pytest.raises(UserError, match="not a predictions file"):
        load(tmp_path / "other.h5")


def test_load_reports_inconsistent_content_with_the_path(tmp_path):
    path = _pred().save(tmp_path / "p.h5")
    with h5py.File(path, "r+") as f:
        f["probs"][0] = [0.9, 0.9, 0.9]
    with pytest.raises(UserError, match=r"p\.h5.*softmax"):
        load(path)


@pytest.mark.parametrize("change, message", [
    (lambda d: d.update(probs=d["probs"][:, :2]), "shape"),
    (lambda d: d.update(labels=np.array([0, 1, 3, 2])), "outside"),
    (lambda d: d.update(labels=np.array([0.0, 1.0, 2.0, 2.0])), "integers"),
    (lambda d: d.update(video_ids=["a", "a", "b", "c"]), "repeat video ids"),
    (lambda d: d["probs"].__setitem__((0, 0), np.nan), "NaN"),
    (lambda d: d.update(probs=d["probs"] * 3), "softmax"),
    (lambda d: d.update(attrs={"format": "x"}), "reserved"),
])
def test_validation_rejects_broken_predictions(change, message):
    p = _pred()
    d = {"video_ids": list(p.video_ids), "labels": p.labels.copy(), "probs": p.probs.copy(),
         "class_names": NAMES, "attrs": {}}
    change(d)
    with pytest.raises(UserError, match=message):
        Predictions(**d)


def test_align_reorders_b_to_a_and_checks_agreement():
    a = _pred()
    b = _pred(order=(2, 0, 3, 1))
    a2, b2 = align(a, b)
    assert b2.video_ids == a.video_ids
    np.testing.assert_array_equal(b2.probs, a.probs)
    with pytest.raises(UserError, match="different videos"):
        align(a, _pred().take([0, 1, 2]))
    bad = _pred()
    bad.labels[0] = 1
    with pytest.raises(UserError, match="disagree on 1 labels"):
        align(a, bad)
    other = Predictions(a.video_ids, a.labels, a.probs, ["x", "y", "z"])
    with pytest.raises(UserError, match="class lists"):
        align(a, other)


def test_missing_video_attributes_round_trip(tmp_path):
    p = _pred().take([0, 1, 2])
    p.attrs.update(num_listed_videos=4, num_missing_videos=1,
                   missing_videos=["v_YoYo_g25_c01"])
    back = load(p.save(tmp_path / "p.h5"))
    assert back.attrs["missing_videos"] == ["v_YoYo_g25_c01"]
    assert back.attrs["num_missing_videos"] == 1 and back.attrs["num_listed_videos"] == 4
    empty = load(_pred(missing_videos=[], num_missing_videos=0).save(tmp_path / "q.h5"))
    assert empty.attrs["missing_videos"] == [] and empty.attrs["num_missing_videos"] == 0


def test_align_names_the_stores_when_they_lacked_different_videos():
    full = _pred(num_missing_videos=0)
    short = _pred(num_missing_videos=1).take([0, 1, 2])
    with pytest.raises(UserError, match=r"1 only in the first.*stores lacked different videos "
                                        r"\(0 and 1 left out"):
        align(full, short)


def test_video_groups_and_derived_properties():
    p = _pred()
    np.testing.assert_array_equal(p.groups, [0, 1, 2, 3])  # four (class, group) clusters
    assert video_groups(["Basketball/v_Basketball_g13_c04.avi"]).tolist() == [0]
    with pytest.raises(UserError, match="v_Class_gGG_cCC"):
        video_groups(["clip_0001"])
    with pytest.raises(UserError, match="v_Class_gGG_cCC"):
        video_groups(["v_YoYo_g01_c01", "Archery_g01_c01"])
    np.testing.assert_array_equal(p.preds, [0, 1, 2, 0])
    np.testing.assert_array_equal(p.correct, [True, True, True, False])


def test_video_groups_are_per_class_and_ignore_the_case_of_class_names():
    ids = ["v_YoYo_g01_c01", "v_Archery_g01_c01", "Archery/v_Archery_g01_c02.avi",
           "v_YoYo_g01_c02", "v_HandStandPushups_g02_c01", "HandstandPushups/"
           "v_HandstandPushups_g02_c02.avi", "v_Archery_g10_c01", "v_Archery_g02_c01"]
    groups = video_groups(ids)
    assert groups.dtype == np.int64
    # g01 of YoYo is not g01 of Archery; the two spellings of HandstandPushups are one class;
    # ids are dense and follow sorted (class, group), so numbering does not depend on order.
    assert groups.tolist() == [4, 0, 0, 4, 3, 3, 2, 1]
    np.testing.assert_array_equal(video_groups(ids[::-1]), groups[::-1])
    assert video_groups([]).tolist() == []


def test_split1_test_list_has_707_class_group_clusters(ucf_splits_dir):
    # The official list (CRLF lines "Class/v_Class_gGG_cCC.avi"): 101 classes x 7 test groups.
    lines = (ucf_splits_dir / "testlist01.txt").read_text().splitlines()
    ids = [line.strip() for line in lines if line.strip()]
    assert len(ids) == 3783
    groups = video_groups(ids)
    assert len(np.unique(groups)) == 707
    assert groups.max() == 706  # dense
    numbers = {int(v.rsplit("_g", 1)[1][:2]) for v in ids}
    assert len(numbers) == 7  # the old group-number unit: far fewer clusters
