"""What a fraud-scored application carries: its tabular features (with plausible bounds) and its link kinds."""

KINDS = ("device", "phone", "ip")


FEATURES = (
    "income_k",
    "loan_amount_k",
    "age",
    "employment_months",
    "credit_history_months",
    "inquiries_90d",
    "application_hour",
    "email_age_days",
)


# Plausible bounds, used by the front to reject nonsense before it reaches the model.
FEATURE_BOUNDS = {
    "income_k": (0.0, 10_000.0),
    "loan_amount_k": (0.0, 10_000.0),
    "age": (16.0, 120.0),
    "employment_months": (0.0, 1_200.0),
    "credit_history_months": (0.0, 1_200.0),
    "inquiries_90d": (0.0, 1_000.0),
    "application_hour": (0.0, 23.999),
    "email_age_days": (0.0, 20_000.0),
}
