"""``python -m chainmine``: the same command line as the ``chainmine`` script."""

from chainmine.miner.cli import main

if __name__ == "__main__":
    main()
