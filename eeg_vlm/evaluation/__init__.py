"""Scoring: answer parsing, metrics, paper tables and figures."""
