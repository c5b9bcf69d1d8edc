import sys

from autofast.cli import main

sys.exit(main())
