"""Command line for the test-host harness: `python tests/hosts --help`."""

import os
import sys

# Run as `python tests/hosts`: import this folder as the package `hosts`, not its modules as top-level names.
_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _here]
sys.path.insert(0, os.path.dirname(_here))

from hosts.cli import main  # noqa: E402

sys.exit(main())
