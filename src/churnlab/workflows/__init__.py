"""Workflows that run the whole flow: training runs and the CDNOW real-data benchmark."""
