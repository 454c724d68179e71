"""The data versions against the team's DVC remote: which remote is the default, what is not yet pushed, and push
and pull checked object by object against their md5 (`integrity`), so a corrupted object never travels."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from pipeline.errors import UserError
from pipeline.user_paths import in_project
from pipeline.versioning import dvc_seam, integrity
from pipeline.versioning.data_status import (
    CacheProblem,
    cache_failure,
    corrupted_objects,
    status_rows,
    unfetchable_rows,
)


@dataclass(frozen=True)
class DataStatus:
    """`mlops data status`: each file's state in words, what verifying found, and the error to end with."""

    rows: list[tuple[str, str]]  # (file, its state in words); empty: all recorded, cached and pushed
    remote_unreachable: str | None  # why the remote could not be asked (the rows are then local only)
    cache_problems: list[CacheProblem] | None  # None: not verified; empty: verified, every object matches its md5
    # None: not verified; the corrupted copies, or, when the cache lacks objects, the bad or missing copies of those
    remote_problems: list[integrity.Problem] | None
    failure: UserError | None  # what verifying found wrong, reported after everything above
    remote_asked: bool = False  # whether "not yet pushed" was asked of the remote (else the rows are local only)


def remote_name(url: str, endpoint_url: str | None) -> str:
    """`s3` for s3:// URLs, `local` for folders; other schemes are refused."""
    if not url.strip() or not url.isprintable():
        raise UserError(
            f"remote URL {url[:200]!r}: is empty or holds control characters",
            hint="give a folder or s3://BUCKET/PREFIX",
        )
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme == "s3":
        if "@" in url or "?" in url:
            raise UserError(
                f"{url}: credentials or options in the URL would be written to .dvc/config",
                hint="give s3://BUCKET/PREFIX; put credentials in .dvc/config.local or AWS_* env",
            )
        if endpoint_url is not None:
            check_endpoint(endpoint_url)
        if not urlsplit(url).netloc:
            raise UserError(f"{url}: names no bucket", hint="give s3://BUCKET/PREFIX")
        return "s3"
    if scheme:
        raise UserError(
            f"{url}: {scheme}:// remotes are not supported here",
            hint="use a local folder or s3://BUCKET/PREFIX (with --endpoint-url for MinIO etc.)",
        )
    if endpoint_url:
        raise UserError("--endpoint-url is for s3:// remotes only", hint=f"drop it for the folder {url}")
    return "local"


def check_endpoint(endpoint_url: str) -> None:
    """An S3-compatible server's URL as .dvc/config may keep it: http(s)://HOST[:PORT][/PATH], nothing secret.
    Checked before anything is written: DVC writes the remote first and refuses a bad endpoint only after."""
    hint = "give the server as http(s)://HOST:PORT, e.g. http://127.0.0.1:9000"
    if "@" in urlsplit(endpoint_url).netloc or "?" in endpoint_url:
        raise UserError(
            "--endpoint-url: credentials or a query in the server's URL would be written to .dvc/config",
            hint=f"{hint}; put credentials in .dvc/config.local or AWS_* env",
        )
    parts = urlsplit(endpoint_url)
    try:
        server = parts.scheme in ("http", "https") and bool(parts.hostname) and endpoint_url.isprintable()
        parts.port  # noqa: B018 (a port that is not a number raises ValueError)
    except ValueError:
        server = False
    if not server:
        raise UserError(f"--endpoint-url {endpoint_url[:200]!r}: is not an http(s) server URL", hint=hint)


def check_folder(folder: str) -> None:
    """A folder remote is a folder (made by the first push) outside the repository: inside it, every pushed
    object would show up as an untracked file, one `git add -A` away from being committed."""
    path = Path(folder)
    example = "e.g. ../lending-mlops-dvc-remote"
    if path.exists() and not path.is_dir():
        raise UserError(f"{folder}: is a file, not a folder", hint=f"give a folder for the remote ({example})")
    if in_project(path) is not None:
        raise UserError(
            f"{folder}: is inside this repository (pushed data would appear in `git status`)",
            hint=f"give a folder outside it ({example})",
        )


@dataclass(frozen=True)
class RemoteSet:
    """`mlops remote set`: the remote's name (`s3` or `local`), and whether .dvc/config changed (False: it was
    already the default remote, and nothing was written)."""

    name: str
    changed: bool


def set_remote(url: str, endpoint_url: str | None) -> RemoteSet:
    """Make `url` the default remote (without contacting it)."""
    if not url.strip():  # as a folder it is this one: refused, but as ": is inside this repository"
        raise UserError(
            f"URL {url!r} is empty: name the remote",
            hint="give a folder outside the repository (e.g. ../lending-mlops-dvc-remote) or s3://BUCKET/PREFIX",
        )
    for option, value in (("URL", url), ("--endpoint-url", endpoint_url or "")):
        if not value.isascii():
            raise UserError(
                f"{option} {value!r}: is not ASCII, and DVC writes .dvc/config in ASCII only",
                hint="give a path or URL of ASCII characters (for a folder, a symbolic link to it will do)",
            )
    dvc_seam.require_repo()
    name = remote_name(url, endpoint_url)
    if name == "local":
        check_folder(url)
    return RemoteSet(name, dvc_seam.set_default_remote(name, url, endpoint_url))


def require_bucket() -> None:
    """Refuse, naming the bucket and the fix, when the default remote is an S3 bucket that does not exist."""
    missing = dvc_seam.missing_bucket()
    if missing is None:
        return
    endpoint = f" --endpoint-url {missing.endpoint_url}" if missing.endpoint_url else ""
    server = f" on {missing.endpoint_url}" if missing.endpoint_url else ""
    prefix = urlsplit(missing.url).path
    raise UserError(
        f"remote {missing.remote!r} ({missing.url}): bucket {missing.bucket!r} does not exist{server}",
        hint=f"create it (`aws s3 mb s3://{missing.bucket}{endpoint}`), or point the remote at a bucket that "
        f"exists: `mlops remote set s3://BUCKET{prefix}{endpoint}`",
    )


def require_default_remote(what: str) -> None:
    """Refuse to `what` (e.g. "pull the data and models from") where no default remote is set: DVC says so, then
    goes on (`mlops data pull` said the remote held bad copies of what it could not fetch)."""
    if dvc_seam.default_remote() is None:
        raise UserError(
            f"no default DVC remote here to {what}",
            hint="set one: `mlops remote set PATH_OR_URL` (the project's own: `mlops remote set "
            "../lending-mlops-dvc-remote`)",
        )


def remote_hint() -> str:
    remote = dvc_seam.default_remote()
    where = f"remote {remote[0]!r} ({remote[1]})" if remote else "no default remote"
    return (
        f"{where}: is it reachable, and are credentials set (env AWS_* or .dvc/config.local)? "
        "Run the command again when it is: objects already transferred are kept"
    )


def status(verify: bool, remote: bool) -> DataStatus:
    """What is new, modified, untracked or not yet pushed; with `verify`, the cached objects in use re-hashed
    and (with `remote`, when there is a default remote) the remote's copies too."""
    dvc_seam.require_repo()
    ask_remote = remote and dvc_seam.default_remote() is not None
    unreachable, no_bucket, state = None, None, None
    if ask_remote:  # a missing bucket or an unreachable remote: say so, and report the rest
        try:
            require_bucket()
        except UserError as error:
            no_bucket, unreachable = error, f"{error.message}: {error.hint}"
        else:
            try:
                state = dvc_seam.data_status(not_in_remote=True)
            except dvc_seam.remote_failures() as error:
                unreachable = f"{error.message}: {error.hint}" if isinstance(error, UserError) else str(error)
    if state is None:
        state = dvc_seam.data_status(not_in_remote=False)
    rows = status_rows(state)
    asked = ask_remote and unreachable is None
    if not verify:
        return DataStatus(rows, unreachable, None, None, None, remote_asked=asked)
    cache_problems = corrupted_objects(dvc_seam.tracked_objects(), dvc_seam.cache_files_dir())
    if cache_problems:
        bad = _bad_copies_of_missing(cache_problems) if asked else []
        rows = unfetchable_rows(rows, {problem.path for problem in bad})
        failure = cache_failure(cache_problems, len(bad))
        return DataStatus(rows, unreachable, cache_problems, bad or None, failure, remote_asked=asked)
    if no_bucket:  # it holds no copies to verify: the error says it once, at the end
        return DataStatus(rows, None, [], None, no_bucket, remote_asked=asked)
    if not ask_remote:
        return DataStatus(rows, unreachable, [], None, None, remote_asked=asked)
    try:
        problems = integrity.remote_problems(integrity.objects_in_use())
    except dvc_seam.remote_failures() as error:  # an unreachable or refusing remote
        failure = UserError(f"could not read the remote's copies: {error}", hint=remote_hint())
        return DataStatus(rows, unreachable, [], None, failure, remote_asked=asked)
    corrupted = [problem for problem in problems if problem.state == "corrupted"]
    failure = None
    if corrupted:
        failure = UserError(
            f"{len(corrupted)} object(s) in use are corrupted on the remote",
            hint="from a clone whose cache holds good copies (`mlops data status --verify --no-remote` passes "
            "there), run `mlops data push --heal`",
        )
    return DataStatus(rows, unreachable, [], corrupted, failure, remote_asked=asked)


def _bad_copies_of_missing(cache_problems: list[CacheProblem]) -> list[integrity.Problem]:
    """The remote's corrupted or missing copies of the objects the cache lacks: what no pull restores (reads them)."""
    if not any(problem.missing for problem in cache_problems):
        return []
    missing = integrity.missing_from_cache(integrity.objects_in_use())
    try:
        return integrity.remote_problems({problem.path: problem.md5 for problem in missing})
    except dvc_seam.remote_failures():  # it answered the status a moment ago: the pull's hint stands
        return []


def push(heal: bool) -> list[integrity.Problem] | None:
    """Send the objects this version uses to the default remote, each checked against its md5 first (a corrupted
    one is refused by name and nothing is pushed). With `heal`, the remote's corrupted copies are replaced with
    the good local ones first: the ones healed (None without `heal`)."""
    dvc_seam.require_repo()
    require_default_remote("push the data and models to")
    objects = integrity.objects_in_use()
    corrupted = integrity.corrupted_in_cache(objects)
    if corrupted:
        raise UserError(
            f"not pushed: {len(corrupted)} cached object(s) are corrupted:\n  {integrity.describe(corrupted)}",
            hint="delete each named object from .dvc/cache, then `mlops repro --force` (models, reports) or "
            "`mlops data pull` (data) restores it; nothing reached the remote",
        )
    require_bucket()
    healed = _heal_remote(objects) if heal else None
    try:
        dvc_seam.push()
    except dvc_seam.DvcFailed as failure:
        raise UserError(
            "push to the remote failed or was interrupted (see DVC's message above)", hint=remote_hint()
        ) from failure
    _require_pushed(objects)
    return healed


def _require_pushed(objects: dict[str, str]) -> None:
    """Refuse, naming them, objects in use that are neither in the cache nor on the remote (a model deleted with
    its cache object): DVC warned of them by md5 alone, said "Everything is up to date." and the push passed."""
    missing = integrity.missing_from_cache(objects)
    if not missing:
        return
    try:
        lost = integrity.not_on_remote(missing)
    except dvc_seam.remote_failures():  # it answered the push a moment ago: what was said stands
        return
    if lost:
        raise UserError(
            f"not pushed: {len(lost)} object(s) in use are neither in the cache nor on the remote (the rest was "
            f"pushed):\n  {integrity.describe(lost)}",
            hint="`mlops repro` rebuilds this version's model and reports (a data file: `mlops data add` it "
            "again), then `mlops data push`",
        )


def _heal_remote(objects: dict[str, str]) -> list[integrity.Problem]:
    try:
        return integrity.heal_remote(integrity.remote_problems(objects))
    except dvc_seam.remote_failures() as error:  # an unreachable or refusing remote
        raise UserError(f"could not check the remote's copies: {error}", hint=remote_hint()) from None


def pull(rev: str | None = None) -> list[integrity.Problem]:
    """Fetch the objects this version uses from the default remote, check each against its md5, then check them
    out (a corrupted one is refused by name and never reaches the workspace). With `rev`, the objects that
    revision uses are fetched and checked, and nothing is checked out: `mlops checkout REV` then finds them. The
    cache's corrupted copies it replaced with the remote's."""
    dvc_seam.require_repo()
    commit = None if rev is None else _commit(rev)
    require_default_remote("pull the data and models from")
    require_bucket()
    _fetch(commit)
    objects = integrity.objects_in_use(commit)
    corrupted = integrity.corrupted_in_cache(objects)
    replaced: list[integrity.Problem] = []
    if corrupted:
        # DVC fetched none of them: the cache held their names. Dropped, they are fetched, and those checked, again.
        integrity.drop_from_cache(corrupted)
        _fetch(commit)
        still = integrity.corrupted_in_cache({problem.path: problem.md5 for problem in corrupted})
        integrity.drop_from_cache(still)
        absent = {problem.md5 for problem in integrity.missing_from_cache(objects)}
        replaced = [problem for problem in corrupted if problem not in still and problem.md5 not in absent]
        corrupted = still
    dropped = {problem.md5 for problem in corrupted}  # missing now, and already named as corrupted
    missing = [problem for problem in integrity.missing_from_cache(objects) if problem.md5 not in dropped]
    bad = corrupted + missing  # DVC skips a local remote's corrupted copy
    if bad:
        # Models and reports are the pipeline's too: a repro makes this version's again.
        rebuild = " (or `mlops repro` rebuilds this version's model and reports)" if commit is None else ""
        raise UserError(
            f"{'not checked out' if commit is None else 'not fetched'}: {len(bad)} object(s) came from the remote "
            f"corrupted, or not at all (the workspace is unchanged):\n  {integrity.describe(bad)}",
            hint=f"{_send_them(None if commit is None else _lasting_name(rev, commit))}, then pull again{rebuild}",
        )
    if commit is not None:
        return replaced
    try:
        dvc_seam.checkout_fetched()
    except dvc_seam.DvcFailed as failure:
        raise _checkout_failure() from failure
    return replaced


def _fetch(commit: str | None) -> None:
    """What this version (or `commit`) uses, from the default remote into the cache."""
    try:
        if commit is None:
            dvc_seam.fetch()
        else:
            dvc_seam.fetch_at(commit)
    except dvc_seam.DvcFailed as failure:
        why = f": {failure.said}" if failure.said else " (see DVC's message above)"
        raise UserError(f"pull from the remote failed{why}", hint=remote_hint()) from failure


def _checkout_failure() -> UserError:
    """The fetch worked and the checkout did not: files changed since DVC recorded them, which it keeps (with
    `cache.type hardlink`, one whose corrupted cache object was deleted by hand holds its bad bytes), by name and
    the fix; else DVC said why."""
    changed = sorted(dvc_seam.data_status(not_in_remote=False).get("uncommitted", {}).get("modified", []))
    if not changed:
        return UserError("fetched, but the checkout failed (see DVC's message above)", hint=remote_hint())
    named = " ".join(shlex.quote(path) for path in changed)
    return UserError(
        f"fetched, but not checked out: {', '.join(changed)} changed since DVC recorded it, and DVC keeps changes",
        hint=f"`dvc checkout --force {named}` puts back the recorded version (the change is lost); to keep a change "
        "instead, record it (`mlops repro`, or `mlops data add` for added data)",
    )


def _send_them(rev: str | None) -> str:
    """How good copies of what a pull lacks reach the remote (a local remote's corrupted copy is never fetched, so
    what is missing may be bad there too): a push sends the checked-out version's objects, healing bad ones; for
    `rev`, with that version checked out (`--heal` alone sent nothing of its)."""
    push = "mlops data push --heal" if rev is None else f"mlops checkout {rev} && mlops data push --heal"
    return f"the remote holds bad or no copies: from a clone with good ones run `{push}`"


def _lasting_name(rev: str, commit: str) -> str:
    """`rev` as another clone can check it out: a tag or a commit id as given, else the commit (`HEAD~1` or a
    branch names another commit there)."""
    if commit.startswith(rev.lower()) or dvc_seam.resolve_commit(f"refs/tags/{rev}") == commit:
        return rev
    return commit[:12]


def _commit(rev: str) -> str:
    commit = dvc_seam.resolve_commit(rev)
    if commit is None:
        raise UserError(f"--rev {rev!r} is not a commit, tag or branch here", hint=dvc_seam.unknown_rev_hint(rev))
    return commit
