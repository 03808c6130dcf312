import pytest

from tests.e2e.stack import Stack, write_config


@pytest.fixture
def stack_factory(tmp_path):
    made = []

    def make(**config) -> Stack:
        s = Stack(write_config(tmp_path, **config), tmp_path / "state")
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()
