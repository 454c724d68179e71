from tests.conftest import run


def test_trained_copy_is_clean(repo):
    assert (repo / "models" / "model.skops").is_file()
    assert run(["git", "status", "--porcelain"], repo).stdout == ""
    assert run(["dvc", "status", "--json"], repo).stdout.strip() == "{}"
