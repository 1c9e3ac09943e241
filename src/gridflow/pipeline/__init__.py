"""The flow, one stage per module, in its order: plan what is due, fetch it, shred it, load it and
check the load, purge what has expired; the Snakemake records the stages share, and what the
rules' input functions work out."""
