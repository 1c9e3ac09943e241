"""Operating the archive: the scheduled run and its lock, status, metrics, the HTML report, verify
and repair, backfill, how a workflow run ends; and how numbers and times are written for people."""
