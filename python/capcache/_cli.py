"""The ``capcache`` command of the Python package: the Rust command line, run in process."""

from __future__ import annotations

import signal
import sys

from . import _native


def main() -> None:
    """Runs ``capcache`` with this process's arguments and exits with its code."""
    # Python would only note a Ctrl-C while Rust works; stop at once, as the binary does (a killed
    # build loses nothing it finished). A closed pipe (`capcache list | head`) ends the command
    # quietly rather than in a traceback.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(_native.main(["capcache", *sys.argv[1:]]))
