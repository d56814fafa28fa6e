"""Example model scripts shipped with symsim: ``symsim run gray_scott`` finds them by name."""
