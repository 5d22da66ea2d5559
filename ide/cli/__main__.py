"""`python -m ide.cli`: the `ide` command run by the interpreter given."""

import sys

from ide.cli.main import main

sys.exit(main())
