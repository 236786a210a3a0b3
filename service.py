"""Entry point: ``python service.py [serve | keys create | score | db upgrade]``."""

import sys

from moderation.cli import main

if __name__ == "__main__":
    sys.exit(main())
