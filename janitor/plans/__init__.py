"""Saved plans: a plan written to a file for review (Markdown) and for ``janitor apply`` (JSON),
and the planner that applies exactly that file, image by image, after checking each against Hub.

(The plan values themselves, ``Plan`` and ``Decision``, live in :mod:`janitor.plan`.)
"""
