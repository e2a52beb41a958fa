"""The suggested erase mask, with the real detectors (NudeNet's ONNX model from its
wheel, OpenCV's Haar and HOG) on generated room photos, with and without a drawn person."""

import numpy as np
import pytest

from demo.images import photo, style_for
from demo.person import room_with_person
from retrieval import people

# Seeds whose drawn person the detectors find (bench_suggest_mask: about two in three are).
FOUND = [3, 4, 7]


def covered(mask, truth):
    return (mask & truth).sum() / truth.sum()


def background_erased(mask, truth):
    return (mask & ~truth).sum() / (~truth).sum()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_an_empty_room_gets_an_empty_mask(seed):
    room = photo(style_for(f"decor{seed}", f"layout{seed}"), seed, (1280, 960))

    mask = people.suggest_mask(room)

    assert mask.shape == (960, 1280) and mask.dtype == bool
    assert not mask.any()


@pytest.mark.parametrize("seed", FOUND)
def test_a_found_person_is_covered_and_little_else(seed):
    image, truth = room_with_person(seed)

    mask = people.suggest_mask(image, threads=2)

    assert covered(mask, truth) > 0.95
    # A generous suggestion: the bed right behind a standing person often goes with it.
    assert background_erased(mask, truth) < 0.35


def test_faces_come_from_the_model_inside_the_wheel():
    image, truth = room_with_person(4)

    cues = people.find_people(image)

    faces = [cue for cue in cues if cue.label in ("FACE_FEMALE", "FACE_MALE")]
    assert faces
    x0, y0, x1, y1 = (round(value) for value in faces[0].box)
    assert truth[y0:y1, x0:x1].mean() > 0.5


def test_the_model_session_is_loaded_once_per_thread_count():
    assert people._nudenet_session(1) is people._nudenet_session(1)


def test_a_box_around_a_person_becomes_a_mask_covering_that_person():
    """The refinement alone, on a person the detectors miss: given a loose box around
    the person, as HOG's are, the mask covers the person and stays within the ring of
    probable background around the box (a quarter of its size), plus the dilation."""
    image, truth = room_with_person(0)
    ys, xs = np.nonzero(truth)
    pad_x, pad_y = (xs.max() - xs.min()) // 4, (ys.max() - ys.min()) // 10
    box = (xs.min() - pad_x, ys.min() - pad_y, xs.max() + pad_x, ys.max() + pad_y)

    mask = people.outline_mask(image, [people.PersonCue("body", "GIVEN", box, 1.0)])

    x0, y0, x1, y1 = (round(value) for value in people._grown(box, 0.25))
    near_box = np.zeros_like(mask)
    near_box[max(0, y0 - 30) : y1 + 30, max(0, x0 - 30) : x1 + 30] = True
    assert covered(mask, truth) > 0.95
    assert (mask & ~near_box).sum() < 0.02 * mask.sum()


def test_no_cue_gives_an_empty_mask_of_the_photo_size():
    image, _ = room_with_person(0)

    assert not people.outline_mask(image, []).any()
