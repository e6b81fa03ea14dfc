"""``python -m selrob`` is the ``selrob`` command."""

import sys

from selrob.cli import main

sys.exit(main())
