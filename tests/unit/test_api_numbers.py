"""A query number out of bounds is refused naming the bounds as a person writes them:
`after must be a number from 0 to 4.61169e+18` read like a float nobody could type."""

from __future__ import annotations

import pytest

from zerodown.api.errors import ApiError
from zerodown.api.routes import number


@pytest.mark.parametrize("key, low, high, said", [
    ("after", 0, 2 ** 62, "after must be a number from 0 to 4611686018427387904, got '-1'"),
    ("window", 1, 600, "window must be a number from 1 to 600, got '-1'"),
    ("pace", 0.5, 2.5, "pace must be a number from 0.5 to 2.5, got '-1'"),
])
def test_the_bounds_are_said_plainly(key, low, high, said):
    with pytest.raises(ApiError) as e:
        number({key: "-1"}, key, low, low, high)
    assert e.value.message == said and e.value.status == 400
