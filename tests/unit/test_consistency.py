"""dvc.yaml and the code agree: the paths stages write, and the params each stage reads."""

import re

import yaml

from pipeline import paths
from tests.conftest import ROOT

STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def declared(stage: str, kind: str) -> set[str]:
    return {entry if isinstance(entry, str) else next(iter(entry)) for entry in STAGES[stage].get(kind, [])}


def test_outputs_match_paths_module():
    outs = {path for stage in STAGES for kind in ("outs", "metrics") for path in declared(stage, kind)}
    assert outs == {
        paths.RAW,
        paths.TRAIN,
        paths.VALIDATION,
        paths.TEST,
        paths.MODEL,
        paths.DATA_VALIDATION,
        paths.TRAIN_METRICS,
        paths.METRICS,
        paths.PLOTS,
        paths.MODEL_CARD,
    }


def test_each_stage_declares_the_params_its_module_reads():
    for stage in STAGES:
        source = (ROOT / "pipeline" / "stages" / f"{stage}.py").read_text()
        used = set(re.findall(r"params\.(seed|data\.\w+|(?:split|decision|train|evaluate)(?:\.\w+)?)", source))
        used |= {f"data.{key}" for key in re.findall(r"(?<![\w.])data\.(\w+)", source)}  # `data = params.data`
        used = {"data.schema" if key == "data.schema_path" else key for key in used}
        params = set(STAGES[stage].get("params", []))
        missing = {key for key in used if key not in params and key.split(".")[0] not in params}
        assert not missing, f"stage {stage} reads {missing} without declaring them in dvc.yaml"
