"""MLflow-tracked pipelines: train, evaluate, register, promote, compare.

The only package that starts MLflow runs; the library (``trendml``) never imports MLflow.
"""
