"""`python -m embtui`: the same entry point as the `embtui` console script."""

from embtui.cli import entry

entry()
