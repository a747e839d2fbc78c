"""Monitoring: the inference log `serve` writes, drift against the champion's training
reference, the HTML report, the retraining trigger, and the Azure ML monitor definitions."""
