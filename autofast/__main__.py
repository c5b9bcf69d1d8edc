import sys

from autofast.cli import main

if __name__ == "__main__":  # only as `python -m autofast`, never on a mere import
    sys.exit(main())
