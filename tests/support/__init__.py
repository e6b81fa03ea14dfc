"""Helpers the tests import (``from support.fakes import FakeSource``): pytest puts ``tests/`` on
``sys.path`` (the folder of the rootdir's conftest.py, in its default ``prepend`` import mode), so
test modules never import ``conftest``, which holds only hooks and fixtures."""
