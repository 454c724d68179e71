"""no-secrets-in-dvc-config: credentials belong in `.dvc/config.local` (git-ignored), never in git.

Refuses a staged `.dvc/config` that holds a credential: an option DVC reads as one (quoted or not), a URL with
a user and password (`s3://KEY:SECRET@bucket`, `https://user:pass@host`) or with credentials in its query
string; a local-only file forced into the index (`.dvc/config.local`, `.env`, `.netrc`, ...); and, in any
staged file, a private key or a well-known cloud or service key (AWS, GCP service account, Azure, GitHub...).
Settings that only name or point at a credential (`ask_password = true`, `sse_kms_key_id`, `credentialpath`)
pass.
"""

from __future__ import annotations

import argparse
import codecs
import os
import re
import sys
from collections.abc import Sequence

HOOK_ID = "no-secrets-in-dvc-config"
DVC_CONFIG = ".dvc/config"
SCAN_LIMIT = 8 * 1024 * 1024  # bytes of each file scanned (bigger files are refused as too big anyway)

# Files that hold a machine's credentials or state and that their tools keep out of git.
LOCAL_ONLY_NAMES = frozenset((".env", ".netrc", "_netrc", ".git-credentials", ".pgpass", ".pypirc"))
LOCAL_ONLY_PATHS = (".dvc/config.local", ".dvc/tmp/", ".dvc/cache/", ".aws/credentials", ".docker/config.json")
KEY_STORE_EXTENSIONS = (".p12", ".pfx", ".jks", ".keystore", ".kdbx")  # binary: no marker to scan for
LOCAL_ONLY_TEMPLATES = (".example", ".sample", ".template", ".dist")  # `.env.example` is documentation

# DVC's remote and studio options that hold a credential (dvc/config_schema.py).
SECRET_OPTIONS = frozenset(
    (
        "access_key_id",
        "secret_access_key",
        "session_token",
        "account_key",
        "connection_string",
        "sas_token",
        "client_secret",
        "gdrive_client_secret",
        "oss_key_id",
        "oss_key_secret",
        "password",
        "passphrase",
        "token",
        "sse_customer_key",
    )
)
# Options of other names that look like credentials; these name a file, a command or a switch instead.
SECRET_LIKE = re.compile(r"password|passwd|passphrase|secret|token|credential|private_key|api_?key", re.IGNORECASE)
NOT_SECRET = re.compile(r"^(ask_|exclude_)|(_path|path|_file|_command|_kms_key_id|_algorithm)$", re.IGNORECASE)
BOOLEAN = frozenset(["true", "false", "yes", "no", "on", "off", "0", "1"])
SECTION = re.compile(r"""^[ \t]*\[[ \t]*(?P<quote>["']?)(?P<section>[^\]\n]*?)(?P=quote)[ \t]*\][ \t]*$""", re.M)
OPTION = re.compile(r"""^[ \t]*(?P<quote>["']?)(?P<key>[\w.-]+)(?P=quote)[ \t]*=[ \t]*(?P<value>.*?)[ \t]*$""", re.M)
URL_USER_PASSWORD = re.compile(r"[a-z][a-z0-9+.-]*://[^/\s@:'\"]+:[^/\s@'\"]+@", re.IGNORECASE)
URL_QUERY_CREDENTIAL = re.compile(
    r"[?&](access_token|token|password|passwd|pwd|secret|client_secret|api_?key|apikey|sig|signature|"
    r"x-amz-signature|x-amz-credential|x-amz-security-token|x-goog-signature|sas)=[^&\s'\"]+",
    re.IGNORECASE,
)

# What may come between a secret's name and its value: a few quotes, brackets, commas or `=`, or a YAML `value:`.
AFTER_ITS_NAME = (
    rb"(?:[^A-Za-z0-9/+\n]{1,12}|[^A-Za-z0-9/+]{0,12}(?:\n|\\n)[^A-Za-z0-9/+]{0,40}(?i:value)[^A-Za-z0-9/+\n]{1,12})"
)
# Well-known keys, recognised in any file. Written so that this file does not match them itself. A quote may come
# escaped (`\\"`): a notebook's JSON escapes the quotes in the code it holds. Each key comes with words one of which
# every match holds, lower-cased: a file holding none of them is not searched for that key, so a file of megabytes
# costs a few substring searches instead of a regular expression tried at each of its bytes (2 s at 8 MB).
KNOWN_KEYS = {
    "an AWS access key id": (rb"\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b", (b"akia", b"asia", b"abia", b"acca")),
    "an AWS secret access key": (
        rb"(?i:(?:aws_?)?secret_?access_?key|aws_?secret(?:_?key)?)"
        + AFTER_ITS_NAME
        + rb"[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])",
        (b"secret",),
    ),
    "a MinIO secret key": (  # S3's secret under MinIO's names; its defaults (`minioadmin`, `minio123`) are shorter
        rb"(?i:minio_?(?:secret_?key|root_?password))" + AFTER_ITS_NAME + rb"[A-Za-z0-9/+]{20,}(?![A-Za-z0-9/+])",
        (b"minio",),
    ),
    "a GCP service-account key": (
        rb"\\?\"type\\?\"\s*:\s*\\?\"service_account\\?\"[\s\S]{0,4000}?\\?\"private_key(?:_id)?\\?\"",
        (b"service_account",),
    ),
    "an Azure storage account key": (rb"(?i:AccountKey)=[A-Za-z0-9+/]{40,}", (b"accountkey=",)),
    "an Azure shared access key": (rb"(?i:SharedAccessKey)=[A-Za-z0-9+/]{30,}", (b"sharedaccesskey=",)),
    "an Azure SAS token": (rb"[?&]sv=\d{4}-\d\d-\d\d&[^\s'\"]*sig=[A-Za-z0-9%+/=]{20,}", (b"sv=",)),
    "a Google API key": (rb"\bAIza[0-9A-Za-z_-]{35}\b", (b"aiza",)),
    "a GitHub token": (
        rb"\b(?:gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{50,})\b",
        (b"ghp_", b"gho_", b"ghu_", b"ghs_", b"ghr_", b"github_pat_"),
    ),
    "a GitLab token": (rb"\bglpat-[A-Za-z0-9_-]{20}\b", (b"glpat-",)),
    "a Slack token": (rb"\bxox[abposr]-[A-Za-z0-9-]{10,}", (b"xox",)),
    "a Stripe live key": (rb"\b[rs]k_live_[0-9A-Za-z]{24,}\b", (b"k_live_",)),
    "a Hugging Face token": (rb"\bhf_[A-Za-z]{34}\b", (b"hf_",)),
    "an OpenAI key": (rb"\bsk-(?:proj-)?[A-Za-z0-9_-]{20,}T3BlbkFJ[A-Za-z0-9_-]{20,}", (b"t3blbkfj",)),
    "an Anthropic key": (rb"\bsk-ant-(?:api|admin)\d\d-[A-Za-z0-9_-]{40,}", (b"sk-ant-",)),
    "a PyPI token": (rb"\bpypi-AgE[A-Za-z0-9_-]{50,}", (b"pypi-age",)),
    "an npm token": (rb"\bnpm_[A-Za-z0-9]{36}\b", (b"npm_",)),  # `.npmrc`'s other forms: NPMRC_AUTH
    "a private key": (
        rb"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE" + rb" KEY(?: BLOCK)?-----|PuTTY-User-Key" + rb"-File-\d",
        (b"private" + b" key", b"putty-user-key"),
    ),
}
KNOWN_KEY_SEARCHES = {kind: (re.compile(pattern), words) for kind, (pattern, words) in KNOWN_KEYS.items()}
KEY_WORDS = frozenset(word for _, words in KNOWN_KEYS.values() for word in words)  # each searched for once
# A whole value of `.npmrc`'s `_authToken` or `_auth` (not `${NPM_TOKEN}`): in that file only, where these names
# mean npm's (`_auth = settings.BACKEND` in Python, a docs line's `_authToken=YOUR_TOKEN` are no tokens).
NPMRC_AUTH = re.compile(rb"(?m:^|:)_auth(?:Token)?[ \t]*=[ \t]*[\"']?[A-Za-z0-9+/=_.:-]{16,}[\"']?[ \t]*\r?(?m:$)")
# Byte order marks, UTF-32's first: UTF-32LE's starts with UTF-16LE's.
UNICODE_MARKS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# The placeholders AWS's documentation uses everywhere: not credentials.
DOCUMENTED_EXAMPLES = (b"AKIAIOSFODNN7" + b"EXAMPLE", b"wJalrXUtnFEMI/K7MDENG/bPxRfiCY" + b"EXAMPLEKEY")


def is_local_only(path: str) -> bool:
    """A file that holds one machine's credentials or state (git-ignored by the tools that write it)."""
    name = os.path.basename(path)
    if name.endswith(LOCAL_ONLY_TEMPLATES):
        return False
    if name in LOCAL_ONLY_NAMES or name.startswith(".env.") or name.lower().endswith(KEY_STORE_EXTENSIONS):
        return True
    rooted = "/" + path
    return any(("/" + p) in rooted if p.endswith("/") else rooted.endswith("/" + p) for p in LOCAL_ONLY_PATHS)


def ignore_entry(path: str) -> str:
    """The .gitignore line for a local-only file: its name where the name is local-only anywhere (`.env`),
    else its own path."""
    name = os.path.basename(path)
    return name if name in LOCAL_ONLY_NAMES or name.startswith(".env.") else "/" + path


def untrack(path: str) -> str:
    """The commands that take a local-only file out of the index and keep it out (`git add -A` stages every
    file that no .gitignore names)."""
    from hooks import git
    from hooks.arguments import shell_word

    if git.is_ignored(path):
        return f"`git rm --cached {shell_word(path)}`"
    entry = shell_word(ignore_entry(path))
    return f"`git rm --cached {shell_word(path)} && echo {entry} >> .gitignore`, then `git add .gitignore`"


def is_dvc_config(path: str) -> bool:
    return path == DVC_CONFIG or path.endswith("/" + DVC_CONFIG)


def _unquoted(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def is_secret_option(key: str, value: str) -> bool:
    name = key.lower()
    if _unquoted(value).strip().lower() in BOOLEAN or not value:
        return False
    if name in SECRET_OPTIONS:
        return True
    return bool(SECRET_LIKE.search(name)) and not NOT_SECRET.search(name)


def config_secrets(text: str) -> list[tuple[str, str]]:
    """(section, what) for each credential in a DVC config's text: its option's name, or the option of a URL that
    carries one (`url (a URL with a user and password)`); the section as written (`remote "s3"`, `studio`)."""
    sections = [(match.start(), match["section"]) for match in SECTION.finditer(text)]
    found = []
    for match in OPTION.finditer(text):
        key, value = match["key"], match["value"]
        section = next((name for start, name in reversed(sections) if start < match.start()), "")
        if is_secret_option(key, value):
            found.append((section, key))
        elif URL_USER_PASSWORD.search(value):
            found.append((section, f"{key} (a URL with a user and password)"))
        elif URL_QUERY_CREDENTIAL.search(value):
            found.append((section, f"{key} (a URL with credentials in its query string)"))
    return found


def secrets_in_config(text: str) -> list[str]:
    """What in a DVC config's text is a credential: option names, and URLs that carry one (shown masked)."""
    return [what for _, what in config_secrets(text)]


def set_locally(section: str, option: str) -> str:
    """The DVC command that sets `option` of `section` in .dvc/config.local."""
    from hooks.arguments import shell_word

    kind, _, name = section.partition(" ")
    name = name.strip("\"'")
    if not section:
        return f"`dvc remote modify --local REMOTE {option} VALUE`"
    if kind == "remote" and name:
        return f"`dvc remote modify --local {shell_word(name)} {option} VALUE`"
    return f"`dvc config --local {shell_word('.'.join(part for part in (kind, name, option) if part))} VALUE`"


def as_utf8(content: bytes) -> bytes:
    """Text written in UTF-16 or UTF-32 (as Windows PowerShell's `>` writes it), which starts with its byte order
    mark, as UTF-8: the keys are searched for in the text a file holds, whatever its encoding."""
    for mark, encoding in UNICODE_MARKS:
        if content.startswith(mark):
            return content.decode(encoding, "replace").encode()
    return content


def known_keys(content: bytes) -> list[str]:
    """The kinds of well-known keys and private keys found in any file's content, in the order they first appear."""
    content = as_utf8(content)
    for example in DOCUMENTED_EXAMPLES:
        content = content.replace(example, b"")
    lowered = content.lower()
    present = {word for word in KEY_WORDS if word in lowered}
    first_found = {}  # each kind found, where its first match starts
    for kind, (pattern, words) in KNOWN_KEY_SEARCHES.items():
        match = pattern.search(content) if not present.isdisjoint(words) else None
        if match:
            first_found[kind] = match.start()
    return sorted(first_found, key=first_found.__getitem__)


def holds_private_key(content: bytes) -> bool:
    return "a private key" in known_keys(content)


def problems_for(path: str, content: bytes) -> list[str]:
    """One line per secret in the staged file `path` (its content, up to SCAN_LIMIT bytes), with its fix."""
    from hooks.arguments import shown

    name = shown(path)
    problems = []
    if is_local_only(path):
        problems.append(
            f"{name}: a local-only file (credentials or machine state) forced into the index. "
            f"Fix: {untrack(path)}; it stays on disk, ignored by git"
        )
    elif is_dvc_config(path):
        for section, key in config_secrets(content.decode("utf-8", "replace")):
            option, _, what = key.partition(" ")
            set_it = set_locally(section, option)
            if what:  # a URL: keep it, without the credentials
                set_it = f"the URL without them, and them with {set_locally(section, 'OPTION')}"
            problems.append(
                f"{name}: sets `{option}`{' ' + what if what else ''}, a credential. Fix: remove it from {path}, "
                f"then set {set_it} (writes .dvc/config.local, which git ignores), and `git add {path}` again"
            )
    kinds = known_keys(content)
    if os.path.basename(path) == ".npmrc" and "an npm token" not in kinds and NPMRC_AUTH.search(as_utf8(content)):
        kinds.append("an npm token")
    for kind in kinds:
        problems.append(
            f"{name}: holds {kind}. Fix: remove it (read it from the environment or a git-ignored file), "
            "and rotate it if it was ever pushed"
        )
    return problems


def report(problems: list[str]) -> None:
    from hooks.arguments import from_the_root

    print(f"{HOOK_ID}: secrets must not be committed:\n")
    for problem in problems:
        print(f"  {problem}")
    print(from_the_root())
    print(f"To commit anyway on purpose: SKIP={HOOK_ID} git commit ...  (or git commit --no-verify)")


def main(argv: Sequence[str] | None = None) -> int:
    from hooks import git
    from hooks.arguments import with_paths_last

    parser = argparse.ArgumentParser(prog=HOOK_ID, description=__doc__.splitlines()[0])
    parser.add_argument("filenames", nargs="*", help="files to check (default: the staged changes)")
    args = parser.parse_args(with_paths_last(argv))
    problems = []
    for blob in git.staged_blobs(args.filenames, SCAN_LIMIT):
        if not blob.is_symlink:
            problems += problems_for(blob.path, blob.head)
    if problems:
        report(problems)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
