from tests.hooks.conftest import hooked  # noqa: F401  (the hook fixtures, for the hook reliability cases)
