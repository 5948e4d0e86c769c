"""The console's screens: main (watch), configure (n), compare (c), help (?), confirm."""
