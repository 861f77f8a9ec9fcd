"""``python -m checkpoint_kv.cli``, as before the command line became a package."""

from __future__ import annotations

import sys

from checkpoint_kv.cli import main

if __name__ == "__main__":
    sys.exit(main())
