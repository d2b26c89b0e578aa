"""Where the checkout's folders are: finfer runs from a source checkout (editable install)."""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MODEL_REPOSITORY = PROJECT_ROOT / "model_repository"
ENSEMBLES = PROJECT_ROOT / "ensembles"
DATA = PROJECT_ROOT / "data"
GERMAN_CREDIT_CSV = DATA / "german_credit.csv"
TAIWAN_CARDS_CSV = DATA / "taiwan_credit_card_default.csv"
LOADTEST_RESULTS = PROJECT_ROOT / "loadtest" / "results"
STATE_DIR = PROJECT_ROOT / ".finfer"
