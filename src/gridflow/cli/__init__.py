"""The `gridflow` command: the parser and main, the steps the workflow's rules run, the queries
people ask, and the operations around the archive. It parses and calls; the work is elsewhere."""
