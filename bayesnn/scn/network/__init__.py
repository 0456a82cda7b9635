"""The one-population spike-coding network of Boerlin, Machens & Denève 2013: its
construction (:mod:`.params`), step functions (:mod:`.functional`), shared scan kernels
(:mod:`.kernels`), simulation (:mod:`.simulation`), results (:mod:`.results`),
perturbations, targets, metrics, reference experiments, validation scenario and plots.

Users import from :mod:`bayesnn.scn`; this package's ``__init__`` only lists its parts.
"""
__all__: list[str] = []
