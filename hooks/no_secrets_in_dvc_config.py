"""no-secrets-in-dvc-config: credentials belong in `.dvc/config.local` (git-ignored), never in git.

Refuses a staged `.dvc/config` that sets an access key, secret, password, passphrase or token, and a private
key staged anywhere.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence

HOOK_ID = "no-secrets-in-dvc-config"
DVC_CONFIG = ".dvc/config"
# DVC's remote options that hold credentials (s3, azure, gs, gdrive, oss, ssh, http, webdav ...).
SECRET_OPTION = re.compile(
    r"^\s*(?P<key>[\w.-]*(access_key|secret|password|passphrase|token|account_key|connection_string|"
    r"key_id|credential)[\w.-]*)\s*=\s*(?P<value>\S.*)$",
    re.IGNORECASE | re.MULTILINE,
)
NOT_SECRET_OPTIONS = {"credentialpath", "gdrive_user_credentials_file", "gdrive_service_account_json_file_path"}
# Written in two pieces so that this file, scanned by its own hook, does not hold a marker.
PRIVATE_KEY_MARKERS = (
    b"PRIVATE KEY" + b"-----",
    b"BEGIN PGP PRIVATE" + b" KEY BLOCK",
    b"PuTTY-User-Key" + b"-File-",
    b"BEGIN SSH2 ENCRYPTED PRIVATE" + b" KEY",
)


def secrets_in_config(text: str) -> list[str]:
    """The credential options set in a DVC config's text."""
    return [match["key"] for match in SECRET_OPTION.finditer(text) if match["key"].lower() not in NOT_SECRET_OPTIONS]


def holds_private_key(content: bytes) -> bool:
    return any(marker in content for marker in PRIVATE_KEY_MARKERS)


def read(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError:
        return b""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=HOOK_ID, description=__doc__.splitlines()[0])
    parser.add_argument("filenames", nargs="*")
    args = parser.parse_args(argv)
    problems = []
    for path in args.filenames:
        content = read(path)
        if path.replace("\\", "/").endswith(DVC_CONFIG):
            for key in secrets_in_config(content.decode("utf-8", "replace")):
                problems.append(
                    f"{path}: sets `{key}`, a credential. Fix: remove it from {path}, then set it "
                    f"with `dvc remote modify --local REMOTE {key} VALUE` (writes .dvc/config.local, "
                    f"which git ignores), and `git add {path}` again"
                )
        if holds_private_key(content):
            problems.append(
                f"{path}: holds a private key. Fix: `git rm --cached {path}`, keep the key outside "
                "the repository, and rotate it if it was ever pushed"
            )
    if not problems:
        return 0
    print(f"{HOOK_ID}: secrets must not be committed:\n")
    for problem in problems:
        print(f"  {problem}")
    print(f"\nTo commit anyway on purpose: SKIP={HOOK_ID} git commit ...  (or git commit --no-verify)")
    return 1


if __name__ == "__main__":
    sys.exit(main())
