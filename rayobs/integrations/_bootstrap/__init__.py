"""The directory ``rayobs run`` puts first on ``PYTHONPATH`` (see its ``sitecustomize``)."""
