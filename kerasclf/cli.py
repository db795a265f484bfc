"""What the command-line entry points share: logging, and user errors as one line with exit code 2."""

from __future__ import annotations

import argparse
import functools
import logging
import os
import sys

from kerasclf.errors import PeerLost, UserError


def setup_logging() -> None:
    """kerasclf's own lines on stderr as `kerasclf: ...` (other libraries' warnings keep their own
    form: a root handler would label them kerasclf's)."""
    log = logging.getLogger("kerasclf")
    if not any(getattr(h, "kerasclf_cli", False) for h in log.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("kerasclf: %(message)s"))
        handler.kerasclf_cli = True
        log.addHandler(handler)
    log.propagate = False
    log.setLevel(logging.INFO)


class Parser(argparse.ArgumentParser):
    """argparse that exits 2 with one line (its default also prints the whole usage)."""

    def error(self, message):
        raise UserError(f"{self.prog}: {message} (see --help)")


def entry_point(main):
    """Run `main(argv)`; a UserError becomes `error: ...` on stderr and exit code 2, no traceback."""

    @functools.wraps(main)
    def wrapper(argv=None) -> int:
        setup_logging()
        try:
            return main(argv) or 0
        except UserError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        except PeerLost as e:
            print(f"error: {e}", file=sys.stderr)
            # no exit handlers: jax's would wait at its shutdown barrier for the lost process (and
            # then abort with a stack trace); torch's process group is gone with its peer anyway
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(1)

    return wrapper
