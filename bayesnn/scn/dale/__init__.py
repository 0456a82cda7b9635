"""The E/I (Dale's law) spike-coding network of Barrett, Denève & Machens 2016:
construction and equations (:mod:`.params`), step functions (:mod:`.functional`),
simulation (:mod:`.simulation`) and result (:mod:`.results`). It builds on the
one-population network's kernels and perturbations (:mod:`bayesnn.scn.network`).

Users import from :mod:`bayesnn.scn`; this package's ``__init__`` only lists its parts.
"""
__all__: list[str] = []
