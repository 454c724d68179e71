"""Same commit, same bytes: the train stage writes one model file whatever the thread counts, for both model
kinds. Other BLAS kernels are tried by hand only (docs/determinism.md): tests never set OPENBLAS_CORETYPE,
which can crash or miscompute on some processors."""

import hashlib

import pytest

from tests.conftest import run, test_env


@pytest.mark.parametrize("kind", ["logreg", "hgb"])
def test_thread_counts_give_one_model_file(repo, kind):
    params = repo / "params.yaml"
    params.write_text(params.read_text().replace("model: logreg", f"model: {kind}", 1))
    digests = set()
    for threads in ("1", "2"):
        env = test_env(OMP_NUM_THREADS=threads, OPENBLAS_NUM_THREADS=threads)
        run(["python", "-m", "pipeline.stages.train"], repo, env=env)
        digests.add(hashlib.md5((repo / "models" / "model.skops").read_bytes()).hexdigest())
    assert len(digests) == 1, f"{kind}: thread counts changed the model file: {digests}"
