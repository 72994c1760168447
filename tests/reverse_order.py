"""`-p tests.reverse_order`: run the suite in reverse file order, as Django's `test --reverse` does.

Reverses before pytest-django groups the tests (plain, then transactional, then without a
database), so each group runs back to front; an order dependence shows up as a failure.
"""
from __future__ import annotations

import pytest


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]):
    items.reverse()
    return (yield)
