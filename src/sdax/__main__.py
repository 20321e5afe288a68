"""``python -m sdax``: the ``sdax`` command (see ``sdax --help``)."""

from sdax._cli import main

if __name__ == "__main__":
    raise SystemExit(main())
