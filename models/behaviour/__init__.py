"""The behaviour score: a loan's probability of default after origination, from its monthly statements."""
