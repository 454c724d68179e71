"""dvc.yaml and the code agree: the paths stages write, the params each stage reads, the code it runs."""

import ast
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


# Project modules a stage imports that shape none of its outputs: they word errors, name the paths dvc.yaml
# declares itself, or read params.yaml and DVC's files strictly (a value is refused, never changed).
SHAPE_NO_OUTPUT = {"pipeline/errors.py", "pipeline/paths.py", "pipeline/user_paths.py"} | {
    str(path.relative_to(ROOT)) for path in (ROOT / "hooks").glob("*.py")
}


def project_imports(module: str) -> set[str]:
    """The project's own source files `module` runs, its packages' `__init__` aside: what it imports, transitively."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        path = ROOT / (name.replace(".", "/") + ".py")
        if not path.is_file() or str(path.relative_to(ROOT)) in seen:
            continue
        seen.add(str(path.relative_to(ROOT)))
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                todo += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                todo += [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
    return seen


def test_each_stage_declares_the_project_code_it_runs():
    """DVC reruns a stage when a declared dependency changes: a module the stage runs but does not declare
    (the params schema, whose digest the model file records) could change its outputs with the stage up to date."""
    for stage in STAGES:
        runs = project_imports(f"pipeline.stages.{stage}") - SHAPE_NO_OUTPUT
        assert runs <= declared(stage, "deps"), (
            f"{stage} runs but does not declare {sorted(runs - declared(stage, 'deps'))}"
        )
