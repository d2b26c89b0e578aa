"""Loan-application decisions: the policy a lender edits (TOML), the cross-checks a reviewer would do by
hand, and the decision they lead to. Plain functions over the pipelines' typed results: no server."""
