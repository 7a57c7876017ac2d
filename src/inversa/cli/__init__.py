"""The `inversa` command line."""
