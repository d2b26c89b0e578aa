"""The served pipelines: one declaration a pipeline (risk.py, fraud.py, …), what a declaration states
(declaration.py), and the registry that lists them (registry.py).

Nothing is imported here: importing one declaration must not import every other one (the loan application's
declaration is built from the branches' own).
"""
