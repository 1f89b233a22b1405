"""``python -m oaitrace``: the same as the ``oaitrace`` command."""

from oaitrace.cli import main

if __name__ == "__main__":
    main()
