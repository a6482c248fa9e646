"""One module per group of scenarios; each run function returns its figures for one run."""
