"""Plain language over the API: time windows from the words people use, and names instead of ids."""
