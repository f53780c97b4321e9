"""`tailguard report`: the run's results as one self-contained HTML page."""
