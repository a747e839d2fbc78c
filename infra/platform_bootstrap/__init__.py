"""Run once per subscription: remote state and one least-privilege CI identity per project."""
