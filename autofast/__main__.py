import sys

from autofast.cli import main

if __name__ == "__main__":  # not when a spawned worker process imports this module (autofast.search.host)
    sys.exit(main())
