"""`python -m finfer.models.behaviour.training.evaluation [--profile full|small]`: train on the shipped card
holders, score the held-out 30%, and print the figures as a markdown table (docs/pipelines.md quotes them)."""

from __future__ import annotations

import argparse
import time

from finfer.models.behaviour.training import cards as card_data
from finfer.models.behaviour.training.model import PARAMS, held_out, split, train

# A loan enters the early-warning queue at this probability of default: the lowest warning band of the default
# treatments policy (loans/default_treatments.toml; tests/test_loans.py holds the two equal).
WARNING_THRESHOLD = 0.3


def markdown(report: dict) -> str:
    lines = [
        f"Held out: {report['loans']} loans, base rate {report['base_rate']:.1%}.",
        "",
        "| history known | ROC AUC | reference | PR AUC | reference | Brier |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for months, h in report["horizons"].items():
        label = "origination only" if months == 0 else f"{months} month{'s' if months > 1 else ''}"
        lines.append(
            f"| {label} | {h['roc_auc']:.3f} | {h['reference_roc_auc']:.2f} | {h['pr_auc']:.3f} | "
            f"{h['reference_pr_auc']:.2f} | {h['brier']:.4f} |"
        )
    band = report["warning_band"]
    lines += [
        "",
        f"Warning band (probability ≥ {band['threshold']:g}, six months known): {band['share_flagged']:.1%} of "
        f"loans, precision {band['precision']:.1%} against the base rate {report['base_rate']:.1%}, "
        f"recall {band['recall']:.1%}.",
        "",
        "| decile | predicted | observed |",
        "| ---: | ---: | ---: |",
        *(f"| {i} | {r['predicted']:.3f} | {r['observed']:.3f} |" for i, r in enumerate(report["reliability_6"], 1)),
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profile", choices=sorted(PARAMS), default="full")
    args = parser.parse_args()
    train_set, test_set = split(card_data.load())
    started = time.monotonic()
    model = train(train_set, PARAMS[args.profile])
    print(f"trained on {len(train_set)} loans × 7 history lengths in {time.monotonic() - started:.1f} s\n")
    print(markdown(held_out(model, test_set, WARNING_THRESHOLD)))


if __name__ == "__main__":
    main()
