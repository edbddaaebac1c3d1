"""Fidelity of pimjax's reproductions: paper numbers next to pimjax's, one row each."""
