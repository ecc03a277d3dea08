"""A night's hypnogram: CSV and EDF+ files."""
