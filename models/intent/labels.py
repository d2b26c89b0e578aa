"""What the intent model tells apart: the intents and the slots it reads."""

INTENTS = (
    "loan_apply",
    "credit_limit",
    "interest_rate",
    "repayment_query",
    "early_repayment",
    "overdue_negotiation",
    "change_card",
    "mortgage_release",
    "contract_invoice",
    "insurance",
    "complaint",
    "human_agent",
)


SLOTS = ("amount", "term_months")
