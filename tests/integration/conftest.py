import pytest


@pytest.fixture(autouse=True)
def _clean(clean_app):
    """Every integration test starts from an empty, seeded database and an empty cache."""
