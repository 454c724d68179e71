"""The scoring service: a FastAPI app built from loaded models (`build_app`), and the pieces it is made of.

- `load_served_model` reads a revision's model (or the workspace's) and checks its md5 as `mlops predict` does;
  scoring goes through `pipeline.serving.predict.score_frame`, the same code as batch scoring.
- `request_model` turns the model's feature schema into a pydantic model, so a bad request is a 422 naming the
  field before any scoring.
- `routes_to_challenger` is the gradual rollout: a stable hash of the loan id, so a loan always sees one model.
- `Deployment` holds the champion (swapped in place when the registry's prod stage changes), the challenger and
  its share, or a shadow; `ServiceMetrics` counts through `prometheus_client`.
- `read_body` and `parse_json` bound what a request can cost: a size limit (413) and strict JSON (422), parsed
  off the event loop so one big request cannot stall `/health`.
"""

import asyncio
import hashlib
import json
import math
import re
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any, Literal

from pipeline import paths
from pipeline.errors import UserError
from pipeline.serving import registry
from pipeline.serving.predict import score_frame
from pipeline.serving.telemetry import ID_RULE, MAX_ID_CHARS, acceptable_id, utc_now
from pipeline.training.data_schema import MAX_MAGNITUDE
from pipeline.training.model_file import load_model_bytes
from pipeline.versioning import dvc_seam

WORKSPACE = "workspace"
MAX_BATCH = 10_000  # loans per request
MAX_BODY_BYTES = 16 * 1024 * 1024  # a full batch of loans is about 7 MB of JSON
MAX_ECHOED_CHARS = 80  # of an offending value, in a 422
MAX_PROBLEMS = 100  # listed in a 422
BODY_IDLE_SECONDS = 30.0  # the longest wait for the next part of a request body
CLIENT_CLOSED_REQUEST = 499  # nginx's status for a request its client gave up on, as /metrics counts it
RECEIVED_BYTES = "mlops.received_bytes"  # in the scope of a request: bytes the connection received for it (server.py)
# Bytes a body's chunk framing may add above its own size before the ratio applies; they include body the server
# has received but the app has not read yet: up to uvicorn's 64 KiB buffer and one more socket read (256 KiB) when
# the event loop is busy. At 64 KiB, a 1,000-loan batch framed by Content-Length was refused on a loaded machine.
CHUNKING_SLACK = 512 * 1024
MALFORMED_REQUEST = "mlops.malformed_request"  # its status, in the scope of a request uvicorn refused (server.py)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


# --- models -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServedModel:
    model: Any
    metadata: dict[str, Any]
    md5: str
    rev: str  # a full commit id, or "workspace"
    request: Any = None  # the pydantic model of one loan for this model

    def version(self) -> dict[str, str]:
        return {"md5": self.md5, "rev": self.rev}


def read_model_bytes(rev: str | None, typed: str | None = None, champion: bool = False) -> tuple[bytes, str, str]:
    """(bytes, md5 recorded in dvc.lock, revision label) of the model at `rev` (a revision or a registry reference
    such as `lending-risk@prod`), or the workspace's; a refusal names it as the user did (`registry.read_output`)."""
    if rev is None:
        expected = dvc_seam.output_md5(dvc_seam.read_lock(), paths.MODEL)
        if expected is None:
            raise UserError("dvc.lock records no model", hint="train one with `mlops repro`")
        try:
            return Path(paths.MODEL).read_bytes(), expected, WORKSPACE
        except FileNotFoundError:
            raise UserError(f"{paths.MODEL} not found", hint="`mlops data pull`, or `mlops repro`") from None
    return registry.read_output(rev, paths.MODEL, typed, champion)


def load_served_model(rev: str | None, typed: str | None = None, champion: bool = False) -> ServedModel:
    """The model of `rev` (or the workspace), hash-checked against that revision's dvc.lock; `typed` and
    `champion` say how the user named it (`registry.read_output`)."""
    data, expected, label = read_model_bytes(rev, typed, champion)
    where = paths.MODEL if rev is None else f"{paths.MODEL} at {typed or rev}"
    model, metadata = load_model_bytes(data, where, expected, of_a_revision=rev is not None)
    return ServedModel(model, metadata, expected, label, request_model(metadata))


# --- the request schema -------------------------------------------------------------------------------------


def feature_field(spec: dict[str, Any]) -> tuple[Any, Any]:
    """(type, field) of one feature: a finite number within the schema's range and 2**53 in size (a whole one when
    the schema says `integer`), or one of its categories; a nullable feature may be null or left out."""
    from pydantic import BeforeValidator, Field

    nullable = bool(spec.get("nullable"))
    default = None if nullable else ...
    if spec["kind"] == "numeric":
        whole = 1 if spec.get("integer") else None
        low, high = spec.get("min"), spec.get("max")
        bounds = {
            "ge": max(low, -MAX_MAGNITUDE) if low is not None else -MAX_MAGNITUDE,
            "le": min(high, MAX_MAGNITUDE) if high is not None else MAX_MAGNITUDE,
            "multiple_of": whole,
        }
        kind = Annotated[float, BeforeValidator(_whole_number_within_magnitude)]
        info = Field(default, strict=True, allow_inf_nan=False, **bounds)
    else:
        kind, info = Literal[tuple(spec["categories"])], Field(default)
    return (kind | None if nullable else kind), info


def _whole_number_within_magnitude(value: Any) -> Any:
    """A JSON whole number beyond 2**53 in size refused as the bound refuses a float: as a float, 2**53 + 1 is
    2**53, which passed (and was logged changed) where 2**53 + 2 was refused."""
    from pydantic_core import PydanticKnownError

    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_MAGNITUDE:
        if value > 0:
            raise PydanticKnownError("less_than_equal", {"le": MAX_MAGNITUDE})
        raise PydanticKnownError("greater_than_equal", {"ge": -MAX_MAGNITUDE})
    return value


def request_model(metadata: dict[str, Any]):
    """A pydantic model of one loan, generated from the model's feature schema (unknown fields are ignored)."""
    return request_model_of(metadata["features"])


def request_model_of(features: dict[str, dict[str, Any]]):
    """A pydantic model of one loan with these features (name: spec), and an optional id."""
    from pydantic import ConfigDict, Field, StrictInt, constr, create_model, field_validator

    fields = {name: feature_field(spec) for name, spec in features.items()}
    # Text or a whole number, as given: `true` read as 1 would be loan 1's id, and an empty one no loan's at all
    # (outcomes are joined to predictions by id). A whole number is held to the same length as text.
    loan_id = constr(strict=True, min_length=1, max_length=MAX_ID_CHARS) | StrictInt | None
    fields["id"] = (loan_id, Field(default=None, union_mode="left_to_right"))
    validators = {"id_rule": field_validator("id", mode="wrap")(_one_id_problem)}
    return create_model("Loan", __config__=ConfigDict(extra="ignore"), __validators__=validators, **fields)


def _one_id_problem(cls, value: Any, handler) -> str | int | None:
    """The id as given, or one problem saying what an id is: pydantic's own were one per member of the union, at
    places no client sent (`["body", "id", "constrained-str"]`, `["body", "id", "int"]`)."""
    from pydantic import ValidationError
    from pydantic_core import PydanticCustomError

    try:
        loan_id = handler(value)
    except ValidationError:
        raise PydanticCustomError("id", ID_RULE) from None
    if isinstance(loan_id, int):
        loan_id = str(value)  # its text as given: JSON's `-0` (a NegativeZero) is not the id 0
    if loan_id is not None and not acceptable_id(loan_id):
        raise PydanticCustomError("id", ID_RULE)
    return loan_id


class RequestInvalid(Exception):
    """A request the service refuses with 422; `detail` names each field and what is wrong."""

    def __init__(self, detail: list[dict[str, Any]], unseen: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.unseen = unseen or []  # loans refused only for categories the model never saw: drift evidence


def unseen_only(item: dict[str, Any], errors: list[dict[str, Any]], loan_model) -> dict[str, Any] | None:
    """A loan whose only problems are its categories (`literal_error` on a feature, given as text or null), as
    {"id", "features", "unseen": [features with a category outside the model's], "missing": [features left null]};
    None when anything else is wrong with it. A null is a missing value, not an unseen category; a number, list or
    object is no category at all (and, logged, would carry whatever a client nests in it into the log)."""
    wrong = [
        e for e in errors if e["type"] == "literal_error" and len(e["loc"]) == 1 and isinstance(e["input"], str | None)
    ]
    if not errors or len(wrong) != len(errors):
        return None
    loan_id = item.get("id")
    features = {name: item.get(name) for name in loan_model.model_fields if name != "id"}
    for error in wrong:  # a client's text, of any length up to the body's: a 1 MB category was a 1 MB log line
        features[error["loc"][0]] = echoed(error["input"])
    return {
        "id": str(loan_id) if loan_id is not None else uuid.uuid4().hex,
        "features": features,
        "unseen": [str(e["loc"][0]) for e in wrong if e.get("input") is not None],
        "missing": [str(e["loc"][0]) for e in wrong if e.get("input") is None],
    }


def parse_loans(body: Any, loan_model) -> tuple[list[dict[str, Any]], bool]:
    """(validated loans as dicts, whether the body was a batch) from a parsed JSON body."""
    from pydantic import ValidationError

    batch = isinstance(body, list)
    items = body if batch else [body]
    if batch and not items:
        raise RequestInvalid([{"loc": ["body"], "msg": "the batch is empty", "type": "empty"}])
    if len(items) > MAX_BATCH:
        raise RequestInvalid([{"loc": ["body"], "msg": f"at most {MAX_BATCH} loans per request", "type": "too_long"}])
    loans, problems, unseen = [], [], []
    for index, item in enumerate(items):
        where = ["body", index] if batch else ["body"]
        if not isinstance(item, dict):
            problems.append({"loc": where, "msg": "a loan is a JSON object of feature columns", "type": "dict_type"})
            continue
        try:
            loans.append(loan_model.model_validate(item).model_dump())
        except ValidationError as error:
            problems += [field_problem(where, e) for e in error.errors()]
            unseen.append(unseen_only(item, error.errors(), loan_model))
    if problems:
        raise RequestInvalid(listed(problems), [loan for loan in unseen if loan is not None])
    for loan in loans:
        loan["id"] = str(loan["id"]) if loan["id"] is not None else uuid.uuid4().hex
    return loans, batch


def listed(problems: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The first MAX_PROBLEMS problems of a 422, and a last entry counting the rest: a 30 KB batch of empty objects
    is 220,000 missing fields, which listed whole made a 17 MB answer that took seconds to build."""
    if len(problems) <= MAX_PROBLEMS:
        return problems
    rest = len(problems) - MAX_PROBLEMS
    message = f"and {rest} more problems, not listed: fix the first {MAX_PROBLEMS} and send the loans again"
    return [*problems[:MAX_PROBLEMS], {"loc": ["body"], "msg": message, "type": "too_many_problems"}]


def field_problem(where: list, error: dict) -> dict[str, Any]:
    """One 422 detail entry: where, what is wrong, and the offending value (a short scalar, not the whole loan)."""
    problem = {"loc": where + list(error["loc"]), "msg": error["msg"], "type": error["type"]}
    if error["type"] == "multiple_of":  # the one multiple a loan is held to: 1, for a feature the schema calls integer
        problem |= {
            "msg": f"{error['loc'][-1]} must be a whole number (its schema says integer)",
            "type": "whole_number",
        }
    value = error.get("input")
    if error["type"] != "missing" and isinstance(value, str | int | float | bool | None):
        problem["input"] = echoed(value)
    return problem


def own_rule_problem(where: list, error: dict, role: str) -> dict[str, Any]:
    problem = field_problem(where, error)
    return problem | {"msg": f"{problem['msg']} (by the {role} model that scores this loan)"}


def echoed(value: str | int | float | bool | None) -> str | int | float | bool | None:
    """An offending value as a 422 echoes it and the log keeps an unseen category: as sent, or `shortened`. A lone
    surrogate (`"\\ud800"`, valid JSON but no Unicode character) is echoed as its escape: UTF-8 cannot encode it."""
    if isinstance(value, str):
        value = value.encode("utf-8", "backslashreplace").decode("utf-8")
    text = value if isinstance(value, str) else json.dumps(value)
    return value if len(text) <= MAX_ECHOED_CHARS else shortened(text)


def shortened(text: str) -> str:
    """The first MAX_ECHOED_CHARS characters of a long value, `...` and how long it was."""
    return f"{text[:MAX_ECHOED_CHARS]}... ({len(text)} characters)"


TOKEN = r"[-!#$%&'*+.^_`|~0-9a-z]+"  # of a media type (RFC 9110): no space, comma, slash or semicolon
# application/json or a type/subtype+json; `text/plain, application/problem+json` (two types merged into one header by
# a proxy) or `+json` is no media type at all
JSON_MEDIA_TYPE = re.compile(rf"application/json|{TOKEN}/{TOKEN}\+json")


def unreadable_body(headers) -> dict[str, Any] | None:
    """The 415 detail for a body the service cannot read as it is declared: compressed (`Content-Encoding: gzip`
    was read as JSON text, and a plain body declared gzip was taken as it is), or declared as no JSON (a form,
    text: what a web page can make a browser send to any address, without asking, as FastAPI refuses too), or
    declared twice; None when it can. A body with no Content-Type is read as JSON."""
    encoding = ", ".join(headers.getlist("content-encoding")).strip().lower()  # a list, given in one header or more
    if any(coding.strip() not in ("", "identity") for coding in encoding.split(",")):
        message = f"Content-Encoding {json.dumps(echoed(encoding))} is not supported: send the body uncompressed"
        return {"loc": ["header", "content-encoding"], "msg": message, "type": "unsupported_encoding"}
    types = headers.getlist("content-type")
    if len(types) > 1:  # which one the client meant is anyone's guess: a proxy may keep the other
        given = ", ".join(json.dumps(echoed(value)) for value in types)
        message = f"Content-Type is given {len(types)} times ({given}): send it once, as application/json"
        return {"loc": ["header", "content-type"], "msg": message, "type": "duplicate_header"}
    declared = types[0] if types else ""
    media_type = declared.partition(";")[0].strip().lower()
    if media_type and not JSON_MEDIA_TYPE.fullmatch(media_type):
        message = f"Content-Type {json.dumps(echoed(declared))} is not JSON: send the loans as application/json"
        return {"loc": ["header", "content-type"], "msg": message, "type": "unsupported_media_type"}
    return None


def ambiguous_length(headers) -> dict[str, Any] | None:
    """The 400 detail for a body framed two ways, by Content-Length and by Transfer-Encoding: uvicorn reads it as
    chunked, while a proxy in front may go by the length and take the rest for the next request (request smuggling;
    RFC 9112 asks a server to refuse or to close the connection after it); None for one framing or none."""
    if "content-length" not in headers or "transfer-encoding" not in headers:
        return None
    message = "both Content-Length and Transfer-Encoding frame the body: send one of them"
    return {"loc": ["header", "transfer-encoding"], "msg": message, "type": "ambiguous_length"}


def unexpected_query(query: str) -> dict[str, Any] | None:
    """The 422 detail for a query string on /predict (`?threshold=0.3`, `?model=...`): it was ignored, so a client
    believing it had an effect got decisions it did not ask for; None for none."""
    if not query:
        return None
    message = f"/predict reads no query parameters (got {json.dumps(echoed(query))}): send only the loans, as the body"
    return {"loc": ["query"], "msg": message, "type": "unexpected_query"}


class BodyTooLarge(Exception):
    """A request body above MAX_BODY_BYTES: refused with 413 before it is read whole."""


class BodyInTinyChunks(Exception):
    """A chunked body sent in chunks of a few bytes each: refused with 400 before it is read whole."""


class BodyStalled(Exception):
    """A request body of which nothing more arrived for BODY_IDLE_SECONDS: refused with 408."""


async def read_body(request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The request body, refusing one above `limit` bytes as soon as its declared length or the bytes read so far
    say so (a chunked body has no declared length), and one that stops arriving: a client that declares 1,000
    bytes, sends 10 and waits held its request (and a worker's memory) open for ever."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks, size = [], 0
    parts = request.stream()
    while True:
        try:
            chunk = await asyncio.wait_for(anext(parts), BODY_IDLE_SECONDS)
        except StopAsyncIteration:
            return b"".join(chunks)
        except TimeoutError:
            raise BodyStalled from None
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        # Each chunk of a chunked body costs the HTTP parser as much as a large one: 1 MB of body in 1-byte chunks
        # (6 MB sent) took 8 s of the event loop, where every request waits. Chunks of a few bytes are no client's.
        if request.scope.get(RECEIVED_BYTES, 0) > 2 * size + CHUNKING_SLACK:
            raise BodyInTinyChunks
        chunks.append(chunk)


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number (JSON has no NaN or Infinity; send null for a missing value)")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:MAX_ECHOED_CHARS]} is out of the range of a number")
    return value


class NegativeZero(int):
    """JSON's `-0`: the number 0, whose text is kept for an id (`str` gives `-0`): read as 0, the ids -0 and 0 were
    one loan's in the log and in the outcomes joined to it."""

    def __str__(self) -> str:
        return "-0"


def _whole_number(text: str) -> int:
    if text == "-0":  # the one JSON integer whose text `int` does not give back
        return NegativeZero()
    try:
        return int(text)
    except ValueError:  # Python's limit on digits, whose message tells the client to raise it in the server
        raise ValueError(f"a number of {len(text.lstrip('-'))} digits is out of the range of a number") from None


class DuplicateKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object whose keys are all distinct: which of two values a reader keeps is up to it (the last, for
    Python; the first, for some proxies and logs), so `{"id": "a", "id": "b"}` is no loan at all."""
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise DuplicateKey(f"the key {json.dumps(echoed(key))} appears twice in one object: send each field once")
        seen.add(key)
    return dict(pairs)


def parse_json(raw: bytes) -> Any:
    """The parsed body; RequestInvalid (422) for anything that is not strict, finite, reasonably nested JSON with
    distinct keys in each object."""
    try:
        return json.loads(
            raw,
            object_pairs_hook=_unique_keys,
            parse_constant=_refuse_constant,
            parse_float=_finite_float,
            parse_int=_whole_number,
        )
    except RecursionError:
        message = "nested too deeply: a loan is one JSON object of feature values"
    except DuplicateKey as error:
        message = str(error)
    except (ValueError, UnicodeDecodeError) as error:  # JSONDecodeError is a ValueError
        message = f"not valid JSON: {str(error)[:200]}"
    raise RequestInvalid([{"loc": ["body"], "msg": message, "type": "json"}])


def parse_request(raw: bytes, loan_model) -> tuple[list[dict[str, Any]], bool]:
    """Parse and validate a /predict body (CPU-bound: run it off the event loop)."""
    return parse_loans(parse_json(raw), loan_model)


# --- routing and scoring ------------------------------------------------------------------------------------


def routes_to_challenger(loan_id: str, share: float) -> bool:
    """Whether this loan goes to the challenger: the first 8 bytes of sha256(id) as a fraction of 2**64, below
    `share`. Stable per id, and uniform over ids."""
    fraction = int.from_bytes(hashlib.sha256(loan_id.encode()).digest()[:8], "big") / 2**64
    return fraction < share


# scikit-learn's ColumnTransformer and pandas swap the process's warning filters out and back in as they work
# (`warnings.catch_warnings`, which is not thread-safe): worker threads scoring at once could leave the filters
# emptied for good, and every request after printed a UserWarning on stderr, a flood that, on a pipe nobody read,
# stalled every worker thread and with them the server. One scoring at a time.
SCORING = threading.Lock()


def score_loans(served: ServedModel, loans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Score loans, checked against this model's feature schema, with `pipeline.serving.predict.score_frame` (the
    batch scoring code): one result dict per loan."""
    import pandas as pd

    features = list(served.metadata["features"])
    with SCORING:
        frame = pd.DataFrame([{name: loan[name] for name in ["id", *features]} for loan in loans])
        for name, spec in served.metadata["features"].items():
            frame[name] = frame[name].astype(object if spec["kind"] == "categorical" else float)
        scores = score_frame(served.model, served.metadata, frame, served.md5, source="request", validated=True)
        rows = zip(scores["id"].tolist(), scores["p_default"].tolist(), scores["decision"].tolist(), strict=True)
    return [{"id": str(i), "p_default": p, "decision": d, "version": served.version()} for i, p, d in rows]


@dataclass
class Deployment:
    """Who scores what: the champion (replaceable while serving), and a challenger with a share, or a shadow."""

    champion: ServedModel
    challenger: ServedModel | None = None
    share: float = 0.0
    shadow: ServedModel | None = None
    request_models: dict[tuple[str, ...], Any] = field(default_factory=dict, repr=False)  # by their models' md5s

    def checked_features(self) -> dict[str, dict[str, Any]]:
        """What a request is checked against: every feature a model here reads, by the champion's rule where it
        reads it (a challenger's rules may differ, for a category it never saw, say), else by the rule of the model
        that does: a feature only the challenger reads is neither dropped from the loan nor left unchecked."""
        others = [served for served in (self.challenger, self.shadow) if served is not None]
        features: dict[str, dict[str, Any]] = {}
        for served in [*others, self.champion]:
            features |= served.metadata["features"]
        return features

    def request_model(self):
        """The pydantic model a request's loans must pass (`checked_features`), made once per set of models."""
        key = tuple(served.md5 for served in (self.champion, self.challenger, self.shadow) if served is not None)
        if key not in self.request_models:
            self.request_models[key] = request_model_of(self.checked_features())
        return self.request_models[key]

    def checked_by_request(self, served: ServedModel) -> bool:
        """Whether the request model checked every feature of `served` by that model's own rule."""
        checked = self.checked_features()
        return all(checked.get(name) == spec for name, spec in served.metadata["features"].items())

    def now(self) -> "Deployment":
        """The models serving now, for one request: a promotion while it is checked and scored does not split it
        (checked against one champion's features, scored by another's)."""
        return replace(self)

    def assign(self, loans: list[dict[str, Any]]) -> list[tuple[str, ServedModel]]:
        if self.challenger is None:
            return [("champion", self.champion)] * len(loans)
        return [
            ("challenger", self.challenger)
            if routes_to_challenger(loan["id"], self.share)
            else ("champion", self.champion)
            for loan in loans
        ]

    def own_rule_problems(
        self, served: ServedModel, role: str, loans: list[dict[str, Any]], positions: list[int], batch: bool
    ) -> dict[int, list[dict[str, Any]]]:
        """The 422 problems of each loan at `positions` that breaks a rule of `served` the request was not checked
        by (a category only the champion saw, say), by position: named by its place in the batch, as the request
        check names loans."""
        from pydantic import ValidationError

        if self.checked_by_request(served):
            return {}
        own = served.request or request_model(served.metadata)
        problems = {}
        for index in positions:
            try:
                own.model_validate(loans[index])
            except ValidationError as error:
                where = ["body", index] if batch else ["body"]
                problems[index] = [own_rule_problem(where, e, role) for e in error.errors()]
        return problems

    def score(self, loans: list[dict[str, Any]], batch: bool = True) -> tuple[list[dict], list[dict]]:
        """(responses in request order, log records for every scoring including the shadow's). A loan the challenger
        refuses by a rule of its own is a RequestInvalid, before any loan is scored; one the shadow refuses is only
        not scored by it: a shadow never changes an answer."""
        assigned = self.assign(loans)
        runs = [
            (role, served, [i for i, (r, _) in enumerate(assigned) if r == role])
            for role, served in (("champion", self.champion), ("challenger", self.challenger))
        ]
        if self.shadow is not None:
            refused = self.own_rule_problems(self.shadow, "shadow", loans, list(range(len(loans))), batch)
            runs.append(("shadow", self.shadow, [i for i in range(len(loans)) if i not in refused]))
        runs = [(role, served, positions) for role, served, positions in runs if positions]
        for role, served, positions in runs:
            refused = {} if role == "shadow" else self.own_rule_problems(served, role, loans, positions, batch)
            if refused:
                raise RequestInvalid(listed([problem for i in sorted(refused) for problem in refused[i]]))
        responses: list[dict | None] = [None] * len(loans)
        records = []
        for role, served, positions in runs:
            scored = score_loans(served, [loans[i] for i in positions])
            for i, result in zip(positions, scored, strict=True):
                records.append(log_record(loans[i], result, role, served=role != "shadow"))
                if role != "shadow":
                    responses[i] = result
        return responses, records


def refusal_records(refused: list[dict[str, Any]], champion: ServedModel) -> list[dict[str, Any]]:
    """Log records of loans refused for unseen (or null) categories (role `refused`, not served, no score), so that
    `mlops monitor drift` counts them in the unseen-category (or missing) share."""
    return [
        {
            "time": utc_now(),
            "id": loan["id"],
            "role": "refused",
            "served": False,
            "model_md5": champion.md5,
            "rev": champion.rev,
            "p_default": None,
            "decision": None,
            "unseen": loan["unseen"],
            "missing": loan["missing"],
            "features": loan["features"],
        }
        for loan in refused
    ]


def log_record(loan: dict[str, Any], result: dict[str, Any], role: str, served: bool) -> dict[str, Any]:
    return {
        "time": utc_now(),
        "id": result["id"],
        "role": role,
        "served": served,
        "model_md5": result["version"]["md5"],
        "rev": result["version"]["rev"],
        "p_default": result["p_default"],
        "decision": result["decision"],
        "features": {name: value for name, value in loan.items() if name != "id"},
    }


# --- metrics ------------------------------------------------------------------------------------------------


class ServiceMetrics:
    """Requests by route and status, a latency histogram, and decisions by model version, kept by the Prometheus
    client library in a registry of this app's own. Requests are labelled with the route's template (`/predict`),
    never the raw path: a path a client makes up is `unmatched`, so it can neither add series nor inject lines."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter(
            "mlops_requests", "HTTP requests by route and status.", ["route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "mlops_request_seconds", "Request latency.", ["route"], buckets=LATENCY_BUCKETS, registry=self.registry
        )
        self.decisions = Counter(
            "mlops_decisions",
            "Loans scored, by role, model version and decision.",
            ["role", "model_md5", "rev", "decision"],
            registry=self.registry,
        )

    def count_unlogged(self, lost: Callable[[], int]) -> None:
        """The answered loans the prediction log could not take (a full disk), read from it at each scrape."""
        from prometheus_client import Gauge

        Gauge(
            "mlops_prediction_log_lost_loans",
            "Answered loans the prediction log could not write (a full disk, its folder replaced).",
            registry=self.registry,
        ).set_function(lost)

    def observe_request(self, route: str, status: int, seconds: float) -> None:
        self.requests.labels(route=route, status=str(status)).inc()
        self.latency.labels(route=route).observe(seconds)

    def count_unread(self, status: int) -> None:
        """A request the HTTP server refused before any route saw it (a malformed head, one that never arrived
        whole): route `unread`, and no latency, as it has no end to measure from."""
        self.requests.labels(route="unread", status=str(status)).inc()

    def count_decisions(self, records: list[dict]) -> None:
        for r in records:
            self.decisions.labels(role=r["role"], model_md5=r["model_md5"], rev=r["rev"], decision=r["decision"]).inc()

    def render(self) -> bytes:
        from prometheus_client import generate_latest

        return generate_latest(self.registry)


class MeasuredRequests:
    """ASGI middleware: each request counted by route and status, and timed, in `metrics`; an exception (a bug)
    answered 500, its traceback on stderr, never sent to the client.
    Plain ASGI, as Starlette advises, not its `BaseHTTPMiddleware` (`@app.middleware`), which runs the app in a task
    of its own and passes every message through a stream: more work per request, and more places for one to stall."""

    def __init__(self, app: Any, metrics: ServiceMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status = time.perf_counter(), None

        async def sending(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception:
            traceback.print_exc(file=sys.stderr)
            if status is not None:  # the answer is under way: the HTTP server cuts it short
                raise
            from fastapi.responses import JSONResponse

            await JSONResponse({"detail": "internal server error"}, 500)(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.observe_request(route, status or 500, time.perf_counter() - start)


# --- following the champion -------------------------------------------------------------------------------


NOT_TRIED = object()


class ChampionFollower:
    """A thread that reloads the champion when the registry's prod stage moves (a promotion or a rollback tags it),
    so a running server switches without clients noticing. Prod emptied (`gto deprecate`) means what it means at
    start: the workspace's model serves. A model that fails to load (its object not yet pulled,
    the remote unreachable) is reported once and tried again, less and less often, while the current one serves."""

    RETRY_AT_MOST_EVERY = 60.0  # seconds between tries of a champion that failed to load

    def __init__(self, deployment: Deployment, interval: float = 1.0) -> None:
        self.deployment, self.interval = deployment, interval
        self.state = registry.champion_commit()
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._follow, name="champion-follower", daemon=True)
        self.failed: object = NOT_TRIED  # the last champion (a commit, or None: the workspace's) that failed to load
        self.retry_after, self.next_try = interval, 0.0

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(timeout=5)

    def _follow(self) -> None:
        while not self.stop_event.wait(self.interval):
            state = None
            try:
                state = registry.champion_commit()
                if state == self.state or self._waiting_to_retry(state):
                    continue
                self.deployment.champion = load_served_model(state, champion=True)
            except Exception as error:  # keep serving the current champion
                self._failed(state, str(error))
                continue
            self.state, self.failed = state, None
            now = f"{registry.describe(state)}, model {self.deployment.champion.md5}"
            now += "" if state else " (no model in stage prod)"
            print(f"champion is now {now}", file=sys.stderr, flush=True)

    def _waiting_to_retry(self, state: str | None) -> bool:
        return state == self.failed and time.monotonic() < self.next_try

    def _failed(self, state: str | None, error: str) -> None:
        if state != self.failed:
            print(f"champion change not applied (tried again until it loads): {error}", file=sys.stderr, flush=True)
            self.failed, self.retry_after = state, self.interval
        else:
            self.retry_after = min(2 * self.retry_after, self.RETRY_AT_MOST_EVERY)
        self.next_try = time.monotonic() + self.retry_after


# --- the app ------------------------------------------------------------------------------------------------


def build_app(deployment: Deployment, log, follower: ChampionFollower | None = None):
    """The FastAPI app: POST /predict, GET (and HEAD) /health, /version, /metrics. `log` has `write(records)` and
    `close()`.
    (This module has no `from __future__ import annotations`: FastAPI reads the handlers' annotations.)"""
    import contextlib

    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse, Response
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import ClientDisconnect

    metrics = ServiceMetrics()
    metrics.count_unlogged(lambda: getattr(log, "lost", 0))

    @contextlib.asynccontextmanager
    async def lifespan(app):
        if follower is not None:
            follower.start()
        yield
        if follower is not None:
            follower.stop()
        log.close()

    # No /docs or /redoc: their pages load scripts from a CDN, blank offline. /openapi.json describes the API.
    # No redirect of /predict/ to /predict: its Location was built from the client's Host header (a POST re-sent
    # wherever that names, over http behind a TLS proxy); a path with a slash is a 404 as any unknown path.
    app = FastAPI(
        title="Lending-risk scoring", lifespan=lifespan, docs_url=None, redoc_url=None, redirect_slashes=False
    )

    app.add_middleware(MeasuredRequests, metrics=metrics)

    @app.post("/predict")
    async def predict(request: Request):
        serving = deployment.now()
        framing = ambiguous_length(request.headers)
        if framing is not None:  # the next bytes on this connection may be another request to a proxy, or this body
            return JSONResponse({"detail": [framing]}, 400, headers={"Connection": "close"})
        unreadable = unreadable_body(request.headers)
        if unreadable is not None:
            return JSONResponse({"detail": [unreadable]}, 415)
        unexpected = unexpected_query(request.url.query)
        if unexpected is not None:
            return JSONResponse({"detail": [unexpected]}, 422)
        try:
            raw = await read_body(request)
            loans, batch = await run_in_threadpool(parse_request, raw, serving.request_model())
            responses, records = await run_in_threadpool(serving.score, loans, batch)
        except ClientDisconnect:  # the client hung up before sending its whole body: no bug, and no one to answer
            if request.scope.get(MALFORMED_REQUEST):  # or uvicorn answered 400 and closed: counted as it was answered
                return Response(status_code=request.scope[MALFORMED_REQUEST])
            return Response(status_code=CLIENT_CLOSED_REQUEST)
        except BodyStalled:  # the rest of the body may still come: this connection cannot serve another request
            message = f"the request body stopped arriving (nothing for {BODY_IDLE_SECONDS:.0f} s): send it whole"
            detail = [{"loc": ["body"], "msg": message, "type": "timeout"}]
            return JSONResponse({"detail": detail}, 408, headers={"Connection": "close"})
        except BodyInTinyChunks:  # the rest would be parsed, chunk by chunk, to be thrown away: close instead
            received = request.scope[RECEIVED_BYTES]
            message = f"the body comes in chunks of a few bytes each ({received} bytes received so far): send it in "
            message += "larger chunks, or whole with a Content-Length"
            detail = [{"loc": ["body"], "msg": message, "type": "chunk_size"}]
            return JSONResponse({"detail": detail}, 400, headers={"Connection": "close"})
        except BodyTooLarge:
            message = f"the request body is above {MAX_BODY_BYTES // (1024 * 1024)} MB: send at most {MAX_BATCH} loans"
            return JSONResponse({"detail": [{"loc": ["body"], "msg": message, "type": "too_large"}]}, 413)
        except RequestInvalid as invalid:
            log.write(refusal_records(invalid.unseen, serving.champion))
            return JSONResponse({"detail": invalid.detail}, 422)

        def answer() -> Response:  # a worker thread too: 10,000 loans' log lines and response are seconds of JSON
            log.write(records)
            metrics.count_decisions(records)
            return JSONResponse(responses if batch else responses[0])

        return await run_in_threadpool(answer)

    def probe(path: str):
        """A GET route that answers HEAD too (its headers, no body): load balancers and `curl -I` check with HEAD.
        HEAD is left out of /openapi.json, where one function under two methods is a duplicate operation id, and
        registered after GET: another method's 405 names the first route's (`Allow: GET`)."""

        def register(handler):
            app.get(path)(handler)
            app.add_api_route(path, handler, methods=["HEAD"], include_in_schema=False)
            return handler

        return register

    @probe("/health")
    def health():
        failing = getattr(log, "failing", None)
        if failing is None:
            return {"status": "ok"}
        # still answering (a load balancer keeps it), but what feeds monitoring is being lost: said, and counted
        return {"status": "degraded", "prediction_log": f"not written ({failing}): {log.lost} answered loan(s) lost"}

    @probe("/version")
    def version():
        return {
            "champion": deployment.champion.version(),
            "challenger": deployment.challenger.version() if deployment.challenger else None,
            "share": deployment.share if deployment.challenger else 0.0,
            "shadow": deployment.shadow.version() if deployment.shadow else None,
            "features": list(deployment.champion.metadata["features"]),
            "threshold": deployment.champion.metadata["threshold"],
        }

    @probe("/metrics")
    def prometheus():
        from prometheus_client import CONTENT_TYPE_LATEST

        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    app.state.metrics = metrics  # for the HTTP server's own refusals (`pipeline.serving.server.uvicorn_config`)
    return app
