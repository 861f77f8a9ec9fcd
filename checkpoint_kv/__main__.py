"""``python -m checkpoint_kv``: the same command line as the ``checkpoint-kv`` script."""

from __future__ import annotations

import sys

from checkpoint_kv.cli import main

if __name__ == "__main__":
    sys.exit(main())
