"""Catify as an MLflow model: the models-from-code file (`catify`) and registering, aliasing, loading and
predicting with it (`registry`)."""
