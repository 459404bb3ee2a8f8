"""What a person runs: the command line, doctor and its API probe, demo mode and the terminal tour."""
