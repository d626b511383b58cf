"""data.classes names labels the data set has: a label it lacks is reported as such, before any
split is found empty (which would blame the carving of the splits)."""

from __future__ import annotations

import pytest
import torch

from vaekit.config import DataConfig
from vaekit.data import load_dataset
from vaekit.data.base import Split
from vaekit.data.load import keep_classes
from vaekit.errors import DataError


def labelled(labels: list[int]) -> Split:
    return Split(torch.rand(len(labels), 3), torch.tensor(labels))


def test_a_label_the_set_lacks_names_the_labels_it_has():
    with pytest.raises(DataError, match=r"data.classes: no example of label 42 in data set 'toy' \(it has labels 0-3\); "
                                        r"choose among those"):
        keep_classes(labelled([0, 1, 2, 3, 1]), (1, 42), "toy")
    with pytest.raises(DataError, match=r"no example of labels 5, 9 in data set 'toy' \(it has labels 0, 2\)"):
        keep_classes(labelled([0, 2]), (9, 5, 9), "toy")


def test_a_validation_split_without_the_classes_says_so():
    with pytest.raises(DataError, match=r"the val split of data set 'toy' has no example of label 3 \(it has labels 0, 1 "
                                        r"there\); raise data.val_fraction"):
        keep_classes(labelled([0, 1]), (3,), "toy", "val")
    kept = keep_classes(labelled([0, 1, 1]), (1, 3), "toy", "val")  # one of them is enough there
    assert kept.y.tolist() == [1, 1]


def test_load_dataset_reports_a_missing_label_not_the_carving():
    with pytest.raises(DataError, match=r"no example of label 42 in data set 'digits' \(it has labels 0-9\)"):
        load_dataset(DataConfig(name="digits", classes=(42,)))
    assert set(load_dataset(DataConfig(name="digits", classes=(3,))).train.y.tolist()) == {3}


def test_an_empty_list_of_classes_is_reported():
    with pytest.raises(DataError, match="data.classes is empty, which keeps no example"):
        keep_classes(labelled([0, 1]), (), "toy")
