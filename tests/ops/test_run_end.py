"""A run's outcome when Snakemake exits: a hook's word first, else an error logged, else success
(a run with nothing to do calls no hook)."""

from __future__ import annotations

import logging

from gridflow.ops.run_end import Outcome


def test_a_hook_decides_the_outcome():
    outcome = Outcome()
    outcome.logged_error = True
    outcome.note("success")
    assert outcome.final() == "success"


def test_without_a_hook_an_error_logged_is_a_failed_run():
    outcome = Outcome()
    assert outcome.final() == "success"
    logger = logging.getLogger("gridflow.test_run_end")
    listener = outcome.error_listener()
    logger.addHandler(listener)
    try:
        logger.warning("not an error")
        assert outcome.final() == "success"
        logger.error("the DAG could not be built")
        assert outcome.final() == "error"
    finally:
        logger.removeHandler(listener)
