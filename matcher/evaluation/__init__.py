"""Offline retrieval evaluation: datasets, occlusion, metrics, harness."""
