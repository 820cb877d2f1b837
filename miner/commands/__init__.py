"""One module per CLI command (group); :mod:`chainmine.miner.cli` registers them all.

A command parses options, calls one public function of :mod:`miner` or
:mod:`library`, and formats the result (a rich table, or JSON with ``--json``).
"""
