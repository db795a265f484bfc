"""`python -m kerasclf` is `python -m kerasclf.train`."""

import sys

from kerasclf.train import main

sys.exit(main())
