"""DynamoDB-compatible online store: AWS, DynamoDB Local, moto server, Alternator, ...

Settings (the ``online_store:`` block of a target): ``region``, ``endpoint_url`` (else boto3's own
configuration, e.g. ``AWS_ENDPOINT_URL_DYNAMODB``), ``profile``, ``concurrency`` (requests in
flight, default 8), ``newer_wins`` (``lease``, the default, or ``conditional``), ``lease_seconds``
(30), ``retry_seconds`` (how long throttled or unprocessed writes are retried, 300),
``connect_attempts`` (4), ``connect_timeout`` (5 s), ``read_timeout`` (30 s). Credentials come from
the usual AWS chain and are never logged.

boto3 resolves endpoint, region and credentials and makes the control-plane calls (tables, TTL,
the meta table); the hot calls (BatchGetItem, BatchWriteItem, conditional PutItem) go through
:mod:`sqlfeast.online.dynamodb_http` as signed JSON POSTs, with the same error handling.

One table per view (``{project}.{view}`` by default), hash key ``entity_key`` (``driver_id=1001``),
PAY_PER_REQUEST, TTL enabled on ``_ttl`` (event time + view ttl) for views with a ttl. Items hold
``_event_ts`` / ``_created_ts`` (microseconds since the epoch) and one native attribute per feature.
A table ``{project}.sqlfeast-meta`` holds the registry snapshot and the writer leases.

Newer-wins. DynamoDB's BatchWriteItem cannot be conditional, and one conditional PutItem per row
costs one request per row. sqlfeast therefore serialises bulk writers of a view with a lease (an
item in the meta table, renewed while writing, taken over at once when its holder process on the
same host is dead, else after it expires) and, under the lease, reads the stored timestamps of
each chunk (one projected BatchGetItem per 100 keys) and writes only the rows that are newer, in
BatchWriteItems of 25. When the table was empty at the start of a run and the rows have unique
keys (a materialization), the read pass is skipped. ``newer_wins: conditional`` instead writes
every row with a conditional PutItem: no lease, safe against any concurrent writer, one request per row.

Pushes racing a bulk writer. A push (``write_rows``, any number of rows) is a conditional
PutItem per row and never waits for the lease, but a bulk writer's unconditional BatchWriteItem
may land after it with an older row (its read pass, or the skipped one of an empty table,
happened before the push). So in lease mode every push first records its rows in the push
journal (``{project}.sqlfeast-journal``: hash key the view, range key ``<time>#<unique id>``),
then writes them conditionally. A journal entry holds the rows of one push (up to ~300 KB of
compressed JSON, split further when larger), so a push of 1,000 rows is one journal write and a
replay reads a handful of entries rather than one per row. A bulk writer, once all its writes
are acknowledged and still under its lease, reads the view's journal (a consistent Query),
reads the stored versions of the journaled keys (one BatchGetItem per 100) and puts back, in
BatchWriteItems, every journaled row newer than what is stored; a second Query then finds the
pushes journaled meanwhile and puts those back with a conditional PutItem each (see
``replay_journal``); then it deletes the entries it read. A push whose journal entry was
written before the last Query is re-applied after the bulk writer's last unconditional write;
one written after it writes its rows after that write too; either way newer-wins holds.
Entries expire after a week (``_ttl``) if no bulk writer ever reads them. A bulk writer that dies before its replay leaves the journal for the next one.
"""

from __future__ import annotations

import base64
import gc
import json
import os
import random
import socket
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterable
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from functools import cached_property, partial
from typing import TYPE_CHECKING, Any

from sqlfeast.core.types import parse_type
from sqlfeast.errors import OnlineRowsError, OnlineStoreError
from sqlfeast.online.base import (
    CREATED_ATTR,
    EVENT_ATTR,
    KEY_ATTR,
    MAT_END_ATTR,
    META_VIEW,
    PUSH_PREFIX,
    TILE_ITEM,
    TILES_ATTR,
    TTL_ATTR,
    BulkWriter,
    OnlineStore,
    ReadRequest,
    StoredRow,
    TileWriter,
    WriteResult,
    decode_registry_snapshot,
    prepare_rows,
)
from sqlfeast.online.codec import attr_size, decoder, from_json_attr
from sqlfeast.online.dynamodb_http import DynamoDBConnectionError, DynamoDBError, DynamoDBHttp, encode_json

if TYPE_CHECKING:  # pragma: no cover
    from sqlfeast.core.registry import Registry
    from sqlfeast.core.spec import FeatureView

WRITE_BATCH = 25  # DynamoDB's BatchWriteItem limit (moto does not enforce it; we do)
READ_BATCH = 100  # DynamoDB's BatchGetItem limit
MAX_ITEM_BYTES = 400 * 1024
_RETRYABLE = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionConflictException",
    "LimitExceededException",
}
_CONDITION_FAILED = "ConditionalCheckFailedException"
_AUTH_ERRORS = {
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "MissingAuthenticationTokenException",
    "AccessDeniedException",
    "ExpiredTokenException",
    "IncompleteSignatureException",
}
_REGISTRY_CHUNK = 300 * 1024
JOURNAL_VIEW = "sqlfeast-journal"  # the push journal's pseudo view name (see the module docstring)
JOURNAL_TTL_SECONDS = 7 * 24 * 3600
JOURNAL_ENTRY_BYTES = 300 * 1024  # compressed rows of one journal entry (items may hold 400 KB)
_FIXED_SIZE_TYPES = {
    "bigint",
    "integer",
    "int",
    "long",
    "double",
    "float",
    "real",
    "boolean",
    "bool",
    "timestamp",
    "timestamptz",
    "date",
    "decimal",
    "numeric",
}


def _backoff(attempt: int, base: float = 0.025, cap: float = 2.0) -> float:
    """Exponential backoff with full jitter: spreads retries of parallel writers apart."""
    return random.uniform(0, min(cap, base * (2**attempt)))


def _version(item: dict[str, Any]) -> tuple[int, int]:
    return int(item[EVENT_ATTR]["N"]), int(item[CREATED_ATTR]["N"])


def _wire_decoder(ftype) -> Callable[[dict[str, Any]], Any]:
    """A value decoder for attributes as DynamoDB's JSON carries them (binary as base64 text)."""
    decode = decoder(ftype)
    inner = ftype
    while inner.name == "array":
        inner = inner.element
    if inner.name == "bytes":
        return lambda attr: decode(from_json_attr(attr))
    return decode


def _journal_blobs(items: list[dict[str, Any]]) -> list[bytes]:
    """The items as compressed JSON blobs of at most JOURNAL_ENTRY_BYTES each (split in halves
    until they fit; one item always fits: items are at most 400 KB and compress)."""
    blob = zlib.compress(encode_json(items), 1)
    if len(blob) <= JOURNAL_ENTRY_BYTES or len(items) == 1:
        return [blob]
    half = len(items) // 2
    return _journal_blobs(items[:half]) + _journal_blobs(items[half:])


def _journal_rows(entry: dict[str, Any]) -> list[dict[str, Any]]:
    """The pushed items one journal entry holds, as DynamoDB JSON (binary values as base64 text,
    as the data plane sends and receives them)."""
    if "item" in entry:  # an entry of one row, as journals were written before entries held rows
        return [entry["item"]["M"]]
    return json.loads(zlib.decompress(base64.b64decode(entry["rows"]["B"])))


class DynamoDBOnlineStore(OnlineStore):
    kind = "dynamodb"

    @classmethod
    def from_settings(
        cls, project: str, settings: dict[str, Any], root: Any, table_template: str = "{project}.{view}"
    ) -> "DynamoDBOnlineStore":
        return cls(project, settings, table_template)

    @classmethod
    def serving_settings(cls, settings: dict[str, Any], deadline_seconds: float, threads: int) -> dict[str, Any]:
        """The server's own deadline (504) fires first; the socket timeouts, a little longer,
        only free the worker thread soon after, so a silent store never piles up blocked threads."""
        out = dict(settings)
        timeout = deadline_seconds
        out["connect_timeout"] = min(float(out.get("connect_timeout", 1)), timeout)
        out["read_timeout"] = min(float(out.get("read_timeout", timeout + 1)), timeout + 1)
        out["connect_attempts"] = 1
        out["retry_seconds"] = min(float(out.get("retry_seconds", timeout)), timeout)
        out.setdefault("concurrency", max(8, threads // 2))
        return out

    def __init__(self, project: str, settings: dict[str, Any], table_template: str = "{project}.{view}"):
        super().__init__(project, table_template)
        self.settings = dict(settings)
        self.region = settings.get("region")
        self.endpoint_url = settings.get("endpoint_url")
        self.concurrency = max(1, int(settings.get("concurrency", 8)))
        self.newer_wins = str(settings.get("newer_wins", "lease"))
        if self.newer_wins not in ("lease", "conditional"):
            raise OnlineStoreError(f"online_store newer_wins must be 'lease' or 'conditional', not {self.newer_wins!r}")
        self.lease_seconds = float(settings.get("lease_seconds", 30))
        self.lease_wait_seconds = float(settings.get("lease_wait_seconds", 600))
        self.retry_seconds = float(settings.get("retry_seconds", 300))
        self.connect_attempts = max(1, int(settings.get("connect_attempts", 4)))
        self._lock = threading.Lock()

    # -- connection --------------------------------------------------------------------------------
    @cached_property
    def _session(self):
        import boto3

        return boto3.session.Session(profile_name=self.settings.get("profile"))

    @cached_property
    def client(self):
        """boto3's client: the control plane (tables, TTL, the meta table), and the resolver of
        the endpoint, region and credentials the data plane (:attr:`http`) uses."""
        from botocore.config import Config

        # Retries are ours (throttling with backoff + jitter, bounded connection retries), so
        # botocore's own retry layer is switched off to keep one clear policy.
        # Client-side parameter validation walks every attribute value again; sqlfeast builds
        # requests by construction, so it is off.
        config = Config(
            max_pool_connections=4,
            retries={"total_max_attempts": 1},
            parameter_validation=False,
            connect_timeout=float(self.settings.get("connect_timeout", 5)),
            read_timeout=float(self.settings.get("read_timeout", 30)),
            tcp_keepalive=True,
        )
        region = self.region or self._session.region_name or "us-east-1"
        return self._session.client("dynamodb", region_name=region, endpoint_url=self.endpoint_url, config=config)

    @cached_property
    def http(self) -> DynamoDBHttp:
        """The data plane (BatchGetItem, BatchWriteItem, conditional PutItem): plain JSON POSTs
        signed with SigV4, to the endpoint and with the credentials boto3 resolved."""
        credentials = self._session.get_credentials()
        if credentials is None:
            raise OnlineStoreError("DynamoDB: no AWS credentials found", hint="check region and credentials")
        meta = self.client.meta
        # The CA bundle botocore would use (AWS_CA_BUNDLE or ca_bundle in the AWS config file).
        ca_bundle = self._session._session.get_config_variable("ca_bundle")
        return DynamoDBHttp(
            meta.endpoint_url,
            meta.region_name,
            credentials,
            verify=ca_bundle or True,
            max_connections=self.concurrency * 2 + 4,
            connect_timeout=float(self.settings.get("connect_timeout", 5)),
            read_timeout=float(self.settings.get("read_timeout", 30)),
        )

    @cached_property
    def executor(self) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(self.concurrency, thread_name_prefix="sqlfeast-dynamodb")

    @property
    def where(self) -> str:
        return self.endpoint_url or getattr(self.client.meta, "endpoint_url", None) or "DynamoDB"

    def call(self, operation: str, expected: tuple[str, ...] = (), **params: Any) -> dict[str, Any]:
        """One control-plane call through boto3 (`operation` as boto3 names it, e.g.
        "describe_table"), under the policy of :meth:`_retrying`."""
        from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, HTTPClientError

        method = getattr(self.client, operation)

        def send() -> dict[str, Any]:
            try:
                return method(**params)
            except ClientError as err:  # the same shape as a data-plane error answer
                error = err.response.get("Error", {})
                status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
                raise DynamoDBError(error.get("Code", ""), error.get("Message", ""), status) from None
            except (ConnectionError, HTTPClientError) as err:
                raise DynamoDBConnectionError(str(err)) from None
            except BotoCoreError as err:
                raise OnlineStoreError(
                    f"DynamoDB {operation} failed: {err}", hint="check region and credentials"
                ) from None

        return self._retrying(operation, send, expected)

    def request(self, operation: str, payload: dict[str, Any], expected: tuple[str, ...] = ()) -> dict[str, Any]:
        """One data-plane call (`operation` as DynamoDB names it, e.g. "BatchGetItem") through
        :attr:`http`, under the policy of :meth:`_retrying`."""
        http = self.http
        return self._retrying(operation, lambda: http.call(operation, payload), expected)

    def _retrying(
        self, operation: str, send: Callable[[], dict[str, Any]], expected: tuple[str, ...]
    ) -> dict[str, Any]:
        """The one retry policy: throttling and server errors retried with backoff until
        `retry_seconds`, a lost connection `connect_attempts` times; errors become
        OnlineStoreError, except `expected` codes, re-raised as DynamoDBError for the caller."""
        deadline = time.monotonic() + self.retry_seconds
        attempt = connect_failures = 0
        while True:
            try:
                return send()
            except DynamoDBError as err:
                if err.code in expected:
                    raise
                if err.code in _RETRYABLE and time.monotonic() < deadline:
                    time.sleep(_backoff(attempt))
                    attempt += 1
                    continue
                hint = "run 'sqlfeast apply' first" if err.code == "ResourceNotFoundException" else None
                if err.code in _AUTH_ERRORS:
                    hint = "check region and credentials"
                raise OnlineStoreError(f"DynamoDB {operation} failed: {err.code}: {err.message}", hint=hint) from None
            except DynamoDBConnectionError as err:
                connect_failures += 1
                if connect_failures < self.connect_attempts:
                    time.sleep(_backoff(connect_failures, base=0.2))
                    continue
                raise OnlineStoreError(
                    f"cannot reach DynamoDB at {self.where}: {err}",
                    hint="check the endpoint and network; re-running is safe",
                ) from None

    # -- tables --------------------------------------------------------------------------------
    def _create(self, table: str) -> None:
        try:
            self.call(
                "create_table",
                expected=("ResourceInUseException",),
                TableName=table,
                AttributeDefinitions=[{"AttributeName": KEY_ATTR, "AttributeType": "S"}],
                KeySchema=[{"AttributeName": KEY_ATTR, "KeyType": "HASH"}],
                BillingMode="PAY_PER_REQUEST",
            )
        except DynamoDBError:  # ResourceInUseException: the table exists and is reused
            pass
        for _ in range(600):
            status = self.call("describe_table", TableName=table)["Table"].get("TableStatus")
            if status == "ACTIVE":
                return
            time.sleep(0.5)
        raise OnlineStoreError(f"DynamoDB table '{table}' did not become ACTIVE")

    def create_table(self, view: "FeatureView") -> None:
        table = self.table_name(view.name)
        self._create(table)
        if (view.ttl_seconds and view.ttl_seconds > 0) or view.is_aggregation:
            desc = self.call("describe_time_to_live", TableName=table).get("TimeToLiveDescription", {})
            if desc.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
                self.call(
                    "update_time_to_live",
                    TableName=table,
                    TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTR},
                )

    def table_identity(self, view_name: str) -> str | None:
        """The table's endpoint, name and creation time (a re-created table has a new one)."""
        table = self.table_name(view_name)
        try:
            desc = self.call("describe_table", expected=("ResourceNotFoundException",), TableName=table)["Table"]
        except DynamoDBError:
            return None
        created = desc.get("CreationDateTime")
        stamp = created.timestamp() if hasattr(created, "timestamp") else created
        return f"{self.where}/{table}@{stamp}"

    def apply(self, registry: "Registry") -> None:
        """Create or reuse the view tables and the push journal, then store the registry."""
        self.ensure_journal()
        super().apply(registry)

    def teardown(self, registry: "Registry | None" = None) -> list[str]:
        registry = registry or self.load_registry()
        dropped = super().teardown(registry)
        if self.drop_table(JOURNAL_VIEW):
            dropped.append(self.journal_table)
        return dropped

    def drop_table(self, view_name: str) -> bool:
        table = self.table_name(view_name)
        try:
            self.call("delete_table", expected=("ResourceNotFoundException",), TableName=table)
        except DynamoDBError:
            return False
        return True

    # -- push journal ---------------------------------------------------------------------------
    @property
    def journal_table(self) -> str:
        return self.table_name(JOURNAL_VIEW)

    def ensure_journal(self) -> None:
        """Create the push journal table when it does not exist (hash key view, range key entry)."""
        if getattr(self, "_journal_ready", False):
            return
        try:
            self.call(
                "create_table",
                expected=("ResourceInUseException",),
                TableName=self.journal_table,
                AttributeDefinitions=[
                    {"AttributeName": "view", "AttributeType": "S"},
                    {"AttributeName": "entry", "AttributeType": "S"},
                ],
                KeySchema=[
                    {"AttributeName": "view", "KeyType": "HASH"},
                    {"AttributeName": "entry", "KeyType": "RANGE"},
                ],
                BillingMode="PAY_PER_REQUEST",
            )
        except DynamoDBError:  # ResourceInUseException: it exists
            pass
        for _ in range(600):
            status = self.call("describe_table", TableName=self.journal_table)["Table"].get("TableStatus")
            if status == "ACTIVE":
                break
            time.sleep(0.5)
        try:
            desc = self.call("describe_time_to_live", TableName=self.journal_table).get("TimeToLiveDescription", {})
            if desc.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
                self.call(
                    "update_time_to_live",
                    TableName=self.journal_table,
                    TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTR},
                )
        except OnlineStoreError:
            pass  # TTL only bounds the journal's size; correctness does not depend on it
        self._journal_ready = True

    def journal(self, view: str, items: list[dict[str, Any]]) -> None:
        """Record pushed items in the push journal before they are written (see the module
        docstring): one entry per ~300 KB of compressed rows, 25 entries per BatchWriteItem."""
        self.ensure_journal()
        expires = {"N": str(int(time.time()) + JOURNAL_TTL_SECONDS)}
        entries = [
            {
                "view": {"S": view},
                "entry": {"S": f"{time.time_ns():020d}#{uuid.uuid4().hex}"},
                "rows": {"B": blob},
                TTL_ATTR: expires,
            }
            for blob in _journal_blobs(items)
        ]
        chunks = [entries[i : i + WRITE_BATCH] for i in range(0, len(entries), WRITE_BATCH)]
        if len(chunks) == 1:
            self.batch_write(self.journal_table, chunks[0])
            return
        for future in [self.executor.submit(self.batch_write, self.journal_table, c) for c in chunks]:
            future.result()

    def replay_journal(self, view: str, table: str) -> int:
        """Re-apply the view's journaled pushes with newer-wins and delete the entries read;
        returns how many journaled rows were read. Called by a bulk writer under its lease, after
        its last write was acknowledged.

        Two rounds. The first puts back, in BatchWriteItems, every row of the entries one Query
        found that is newer than what is stored (a push a bulk write replaced); a push landing
        between that round's read and its write is either in those entries (then what is put
        back is at least as new) or journaled after the Query, and a second Query, after the
        first round's writes, finds it: the entries new there are put back with a conditional
        PutItem each. A push journaled after the second Query writes after every unconditional
        write of this writer."""
        self.ensure_journal()
        first = self._journal_entries(view)
        if not first:
            return 0
        self._restore(table, first, conditional=False)
        seen = {e["entry"]["S"] for e in first}
        second = [e for e in self._journal_entries(view) if e["entry"]["S"] not in seen]
        if second:
            self._restore(table, second, conditional=True)
        entries = first + second
        self._delete_journal(entries)
        return sum(len(_journal_rows(e)) for e in entries)

    def _journal_entries(self, view: str) -> list[dict[str, Any]]:
        """Every journal entry of the view (a consistent Query, all pages)."""
        self.ensure_journal()
        entries: list[dict[str, Any]] = []
        params: dict[str, Any] = {
            "TableName": self.journal_table,
            "ConsistentRead": True,
            "KeyConditionExpression": "#v = :v",
            "ExpressionAttributeNames": {"#v": "view"},
            "ExpressionAttributeValues": {":v": {"S": view}},
        }
        while True:
            resp = self.request("Query", params)
            entries.extend(resp.get("Items", []))
            if not resp.get("LastEvaluatedKey"):
                return entries
            params["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    def _restore(self, table: str, entries: list[dict[str, Any]], conditional: bool) -> None:
        """Put back the newest journaled row of each key where it is newer than the stored one:
        one consistent projected read per 100 keys, then BatchWriteItems (under the lease, see
        :meth:`replay_journal`) or one conditional PutItem per row."""
        newest: dict[str, dict[str, Any]] = {}
        for entry in entries:
            for item in _journal_rows(entry):
                key = item[KEY_ATTR]["S"]
                have = newest.get(key)
                if have is None or _version(item) > _version(have):
                    newest[key] = item
        items = list(newest.values())

        def restore(chunk: list[dict[str, Any]]) -> None:
            stored = self.stored_versions(table, [it[KEY_ATTR]["S"] for it in chunk])
            newer = [it for it in chunk if (have := stored.get(it[KEY_ATTR]["S"])) is None or _version(it) > have]
            if conditional:
                for item in newer:
                    self.conditional_put(table, item)
                return
            for i in range(0, len(newer), WRITE_BATCH):
                self.batch_write(table, newer[i : i + WRITE_BATCH])

        for future in [
            self.executor.submit(restore, items[i : i + READ_BATCH]) for i in range(0, len(items), READ_BATCH)
        ]:
            future.result()

    # -- registry snapshot ----------------------------------------------------------------------
    @property
    def meta_table(self) -> str:
        return self.table_name(META_VIEW)

    def save_registry(self, registry: "Registry") -> None:
        self._create(self.meta_table)
        blob = zlib.compress(registry.to_json().encode())
        digest = registry.content_hash[:16] + uuid.uuid4().hex[:8]
        chunks = [blob[i : i + _REGISTRY_CHUNK] for i in range(0, len(blob), _REGISTRY_CHUNK)] or [b""]
        old = self._registry_header()
        # Chunks first, then the header that points at them: a reader never sees a mix.
        for i, chunk in enumerate(chunks):
            self.call(
                "put_item",
                TableName=self.meta_table,
                Item={KEY_ATTR: {"S": f"registry/{digest}/{i}"}, "data": {"B": chunk}},
            )
        self.call(
            "put_item",
            TableName=self.meta_table,
            Item={KEY_ATTR: {"S": "registry"}, "digest": {"S": digest}, "chunks": {"N": str(len(chunks))}},
        )
        if old:
            for i in range(int(old["chunks"]["N"])):
                self.call(
                    "delete_item",
                    TableName=self.meta_table,
                    Key={KEY_ATTR: {"S": f"registry/{old['digest']['S']}/{i}"}},
                )

    def _registry_header(self) -> dict[str, Any] | None:
        try:
            resp = self.call(
                "get_item",
                expected=("ResourceNotFoundException",),
                TableName=self.meta_table,
                Key={KEY_ATTR: {"S": "registry"}},
                ConsistentRead=True,
            )
        except DynamoDBError:
            return None
        return resp.get("Item")

    def load_registry(self) -> "Registry | None":

        header = self._registry_header()
        if not header:
            return None
        parts = []
        for i in range(int(header["chunks"]["N"])):
            item = self.call(
                "get_item",
                TableName=self.meta_table,
                ConsistentRead=True,
                Key={KEY_ATTR: {"S": f"registry/{header['digest']['S']}/{i}"}},
            ).get("Item")
            if item is None:
                raise OnlineStoreError(
                    "the registry snapshot in the online store is incomplete", hint="run 'sqlfeast apply' again"
                )
            parts.append(bytes(item["data"]["B"]))
        return decode_registry_snapshot(b"".join(parts), self.project)

    # -- writes ----------------------------------------------------------------------------------
    def batch_write(self, table: str, items: list[dict[str, Any]]) -> None:
        """One BatchWriteItem of at most 25 items; UnprocessedItems retried until written."""
        if len(items) > WRITE_BATCH:
            raise ValueError(f"BatchWriteItem takes at most {WRITE_BATCH} items, got {len(items)}")
        self._batch_write_requests(table, [{"PutRequest": {"Item": item}} for item in items], "item")

    def batch_delete(self, table: str, keys: list[dict[str, Any]]) -> None:
        """One BatchWriteItem of at most 25 deletes; UnprocessedItems retried until done."""
        self._batch_write_requests(table, [{"DeleteRequest": {"Key": key}} for key in keys], "delete")

    def _batch_write_requests(self, table: str, requests: list[dict[str, Any]], what: str) -> None:
        """BatchWriteItem `requests`, retrying UnprocessedItems with backoff until the deadline."""
        deadline = time.monotonic() + self.retry_seconds
        attempt = 0
        while requests:
            resp = self.request("BatchWriteItem", {"RequestItems": {table: requests}})
            requests = resp.get("UnprocessedItems", {}).get(table, [])
            if requests:
                if time.monotonic() > deadline:
                    raise OnlineStoreError(
                        f"{len(requests)} {what}(s) of '{table}' still unprocessed after "
                        f"{self.retry_seconds:.0f}s of retries",
                        hint="the table is throttled; re-run later (re-running is safe)",
                    )
                time.sleep(_backoff(attempt))
                attempt += 1

    def conditional_put(self, table: str, item: dict[str, Any]) -> bool:
        """PutItem only when the item is newer than the stored one; False when it was not."""
        try:
            self.request(
                "PutItem",
                {
                    "TableName": table,
                    "Item": item,
                    "ConditionExpression": "attribute_not_exists(#k) OR #e < :e OR (#e = :e AND #c < :c)",
                    "ExpressionAttributeNames": {"#k": KEY_ATTR, "#e": EVENT_ATTR, "#c": CREATED_ATTR},
                    "ExpressionAttributeValues": {":e": item[EVENT_ATTR], ":c": item[CREATED_ATTR]},
                },
                expected=(_CONDITION_FAILED,),
            )
        except DynamoDBError:
            return False
        return True

    def bulk_writer(
        self, view: "FeatureView", on_written: Callable[[int], None] | None = None, unique_keys: bool = False
    ) -> BulkWriter:
        """A writer for one view. `unique_keys=True` promises that no key repeats across the
        batches of this writer (true for materialization), which lets a run into an empty table
        skip the read pass."""
        return _DynamoWriter(self, view, on_written, unique_keys)

    def write_rows(self, view: "FeatureView", rows: Any) -> WriteResult:
        """Write one batch (a push) with newer-wins: one conditional PutItem per row, in
        parallel, never under the lease, so a push never waits for a running materialization;
        in lease mode the rows are journaled first (see the module docstring)."""
        with _DynamoWriter(self, view, None, False, conditional=True) as writer:
            writer.write(rows)
        return writer.result

    # -- aggregation views: tiles ------------------------------------------------------------
    def tile_writer(
        self, view: "FeatureView", materialized_end: int, on_written: Callable[[int], None] | None = None
    ) -> TileWriter:
        return _DynamoTileWriter(self, view, materialized_end, on_written)

    def push_tiles(self, view: "FeatureView", rows: list[tuple[str, Any]]) -> WriteResult:
        """Journal the rows (so that a racing materialization re-applies them), then
        one conditional UpdateItem a row, in parallel: ``SET p:<ts>.<created>`` when the row is
        not older than the item's materialized end and that identity is not there yet."""
        from sqlfeast.online.tiles import plan_of

        plan = plan_of(view)
        table = self.table_name(view.name)
        # Always journaled: a tile materialization rewrites whole items under the lease in either mode.
        self.journal(view.name, [{KEY_ATTR: {"S": key}, "row": {"S": row.to_json()}} for key, row in rows])
        result = WriteResult()
        lock = threading.Lock()

        def apply(chunk: list[tuple[str, Any]]) -> None:
            for key, row in chunk:
                ok = self.fold_push(table, plan, key, row)
                with lock:
                    if ok:
                        result.written += 1
                    else:
                        result.skipped += 1

        chunks = [rows[i : i + WRITE_BATCH] for i in range(0, len(rows), WRITE_BATCH)]
        futures = [self.executor.submit(apply, c) for c in chunks[1:]]
        if chunks:
            apply(chunks[0])
        for future in futures:
            future.result()
        return result

    def fold_push(self, table: str, plan: Any, key: str, row: Any) -> bool:
        """One pushed row into its entity's item; False when it was there already or is older
        than the item's materialized end (idempotent: a replay changes nothing)."""
        from sqlfeast.online.tiles import expires_at, sub_tile

        names = {"#p": PUSH_PREFIX + row.identity, "#me": MAT_END_ATTR, "#t": TTL_ATTR, "#e": EVENT_ATTR}
        values = {
            ":row": {"S": row.to_json()},
            ":ts": {"N": str(row.ts)},
            ":ttl": {"N": str(expires_at(plan, sub_tile(row.ts, plan.granularity_us)))},
        }
        fresh = "(attribute_not_exists(#me) OR #me <= :ts) AND attribute_not_exists(#p)"
        attempts = [
            ("SET #p = :row, #t = :ttl, #e = :ts", fresh + " AND (attribute_not_exists(#t) OR #t <= :ttl)", names),
            ("SET #p = :row", fresh, {k: v for k, v in names.items() if k in ("#p", "#me")}),
        ]
        for expression, condition, attr_names in attempts:
            try:
                self.request(
                    "UpdateItem",
                    {
                        "TableName": table,
                        "Key": {KEY_ATTR: {"S": key}},
                        "UpdateExpression": expression,
                        "ConditionExpression": condition,
                        "ExpressionAttributeNames": attr_names,
                        "ExpressionAttributeValues": values
                        if "#t" in attr_names
                        else {":row": values[":row"], ":ts": values[":ts"]},
                    },
                    expected=(_CONDITION_FAILED,),
                )
                return True
            except DynamoDBError:
                continue
        return False

    def replay_tile_journal(self, view: "FeatureView", table: str) -> int:
        """Re-apply the view's journaled pushes (idempotent) and delete the entries read."""
        from sqlfeast.online.tiles import PushRow, plan_of

        plan = plan_of(view)
        entries = self._journal_entries(view.name)
        if not entries:
            return 0

        rows = [item for entry in entries for item in _journal_rows(entry)]

        def restore(chunk: list[dict[str, Any]]) -> None:
            for item in chunk:
                self.fold_push(table, plan, item[KEY_ATTR]["S"], PushRow.from_json(item["row"]["S"]))

        for future in [
            self.executor.submit(restore, rows[i : i + WRITE_BATCH]) for i in range(0, len(rows), WRITE_BATCH)
        ]:
            future.result()
        self._delete_journal(entries)
        return len(rows)

    def _delete_journal(self, entries: list[dict[str, Any]]) -> None:
        deletes = [{"view": e["view"], "entry": e["entry"]} for e in entries]
        for future in [
            self.executor.submit(self.batch_delete, self.journal_table, deletes[i : i + WRITE_BATCH])
            for i in range(0, len(deletes), WRITE_BATCH)
        ]:
            future.result()

    def stored_versions(self, table: str, keys: list[str]) -> dict[str, tuple[int, int]]:
        """entity key -> (event ts, created ts) stored, for up to 100 keys (one projected read)."""
        found: dict[str, tuple[int, int]] = {}
        # Strongly consistent: an eventually consistent read may show the state before a bulk
        # write replaced a newer row, which would hide the replacement from the replay.
        spec = {
            "Keys": [{KEY_ATTR: {"S": k}} for k in keys],
            "ProjectionExpression": "#k, #e, #c",
            "ConsistentRead": True,
            "ExpressionAttributeNames": {"#k": KEY_ATTR, "#e": EVENT_ATTR, "#c": CREATED_ATTR},
        }
        for items in self._batch_get({table: spec}):
            for item in items.get(table, []):
                found[item[KEY_ATTR]["S"]] = (int(item[EVENT_ATTR]["N"]), int(item[CREATED_ATTR]["N"]))
        return found

    # -- reads -----------------------------------------------------------------------------------
    def _batch_get(self, request_items: dict[str, Any]) -> list[dict[str, list[dict[str, Any]]]]:
        """One BatchGetItem (<= 100 keys across tables); UnprocessedKeys retried until read."""
        responses = []
        deadline = time.monotonic() + self.retry_seconds
        attempt = 0
        while request_items:
            resp = self.request("BatchGetItem", {"RequestItems": request_items})
            responses.append(resp.get("Responses", {}))
            request_items = resp.get("UnprocessedKeys") or {}
            if request_items:
                if time.monotonic() > deadline:
                    raise OnlineStoreError("keys still unprocessed after retries", hint="the table is throttled")
                time.sleep(_backoff(attempt))
                attempt += 1
        return responses

    def read(self, requests: Iterable[ReadRequest]) -> list[dict[str, StoredRow]]:
        requests = list(requests)
        # per request: table, projection, names, decoders (None: an aggregation view's whole item)
        specs: list[tuple[str, str, dict[str, str], dict[str, Callable[[dict[str, Any]], Any]] | None]] = []
        pairs: list[tuple[int, str]] = []
        for i, req in enumerate(requests):
            if req.view.is_aggregation:  # the whole item: tiles and pushed rows
                specs.append((self.table_name(req.view.name), "", {}, None))
                pairs.extend((i, key) for key in dict.fromkeys(req.keys))
                continue
            names = {"#k": KEY_ATTR, "#e": EVENT_ATTR, "#c": CREATED_ATTR}
            projection = ["#k", "#e", "#c"]
            for j, feature in enumerate(req.features):
                # Feature names go through placeholders: never spliced into an expression.
                names[f"#f{j}"] = feature
                projection.append(f"#f{j}")
            decoders = {f.name: _wire_decoder(parse_type(f.type)) for f in req.view.features if f.name in req.features}
            specs.append((self.table_name(req.view.name), ", ".join(projection), names, decoders))
            pairs.extend((i, key) for key in dict.fromkeys(req.keys))
        chunks = [pairs[i : i + READ_BATCH] for i in range(0, len(pairs), READ_BATCH)]

        def fetch(chunk: list[tuple[int, str]]) -> list[dict[str, Any]]:
            request_items: dict[str, Any] = {}
            for i, key in chunk:
                table, projection, names, _ = specs[i]
                entry = request_items.setdefault(
                    table,
                    {"Keys": [], "ProjectionExpression": projection, "ExpressionAttributeNames": names}
                    if projection
                    else {"Keys": []},
                )
                entry["Keys"].append({KEY_ATTR: {"S": key}})
            return self._batch_get(request_items)

        # Chunks in parallel: one round trip of latency for any number of keys. The first runs
        # in the calling thread, so one chunk costs no thread hand-off at all.
        rest = [self.executor.submit(fetch, chunk) for chunk in chunks[1:]]
        results = [fetch(chunks[0])] if chunks else []
        results.extend(future.result() for future in rest)
        by_table: dict[str, list[dict[str, Any]]] = {}
        for responses in results:
            for resp in responses:
                for table, items in resp.items():
                    by_table.setdefault(table, []).extend(items)
        out: list[dict[str, StoredRow]] = []
        for table, _, _, decs in specs:
            found = {}
            if decs is None:
                for item in by_table.get(table, []):
                    found[item[KEY_ATTR]["S"]] = StoredRow(
                        int(item[EVENT_ATTR]["N"]) if EVENT_ATTR in item else 0, 0, {TILE_ITEM: tile_item(item)}
                    )
                out.append(found)
                continue
            for item in by_table.get(table, []):
                values = {f: dec(item[f]) if f in item else None for f, dec in decs.items()}
                found[item[KEY_ATTR]["S"]] = StoredRow(int(item[EVENT_ATTR]["N"]), int(item[CREATED_ATTR]["N"]), values)
            out.append(found)
        return out

    def close(self) -> None:
        if "http" in self.__dict__:
            self.__dict__.pop("http").close()
        if "executor" in self.__dict__:
            self.executor.shutdown(wait=True)
            del self.__dict__["executor"]


def tile_item(item: dict[str, Any]) -> Any:
    """A stored item of an aggregation view (DynamoDB JSON) -> TileItem."""
    from binascii import a2b_base64

    from sqlfeast.online.tiles import I64_MIN, PushRow, TileItem

    blob = item.get(TILES_ATTR)
    tiles = a2b_base64(blob["B"]) if blob else None
    pushes = [PushRow.from_json(v["S"]) for k, v in item.items() if k.startswith(PUSH_PREFIX)]
    end = int(item[MAT_END_ATTR]["N"]) if MAT_END_ATTR in item else I64_MIN
    return TileItem(end, tiles, pushes)


class _Requests:
    """The requests a writer has handed to the store's executor: at most `limit` queued at once
    (bounds memory), each dropped as it finishes; the first failure is raised by the next
    `submit` and by `check`.

    >>> requests = _Requests(ThreadPoolExecutor(1), 2)
    >>> requests.submit(lambda: 1 // 0); requests.wait()
    >>> try:
    ...     requests.check()
    ... except ZeroDivisionError:
    ...     print("raised")
    raised
    """

    def __init__(self, executor: ThreadPoolExecutor, limit: int):
        self._executor = executor
        self._slots = threading.BoundedSemaphore(limit)
        self._lock = threading.Lock()
        self._pending: set[Future] = set()
        self._errors: list[BaseException] = []

    def submit(self, fn: Callable[[], Any]) -> None:
        self._slots.acquire()
        if self._errors:
            self._slots.release()
            raise self._errors[0]
        future = self._executor.submit(fn)
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: Future) -> None:
        self._slots.release()
        with self._lock:
            self._pending.discard(future)
        if not future.cancelled():
            self._keep(future.exception())

    def _keep(self, error: BaseException | None) -> None:
        with self._lock:
            if error is not None and not any(e is error for e in self._errors):
                self._errors.append(error)

    def check(self) -> None:
        """Raise the first failure of a finished request, if any."""
        if self._errors:
            raise self._errors[0]

    def wait(self) -> None:
        """Until every request has finished; their failures are kept for `check`."""
        while True:
            with self._lock:
                pending = list(self._pending)
            if not pending:
                return
            for future in pending:
                try:
                    self._keep(future.exception())  # also before its done callback has run
                except CancelledError:
                    pass

    def cancel(self) -> None:
        """Cancel the requests not started yet and wait for the others."""
        with self._lock:
            pending = list(self._pending)
        for future in pending:
            future.cancel()
        self.wait()


class _Lease:
    """One bulk writer per view at a time: an item `lease/<view>` in the meta table."""

    def __init__(self, store: DynamoDBOnlineStore, view: str):
        self.store, self.view = store, view
        self.holder = uuid.uuid4().hex
        self.key = {KEY_ATTR: {"S": f"lease/{view}"}}
        self.lost = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _item(self) -> dict[str, Any]:
        return {
            **self.key,
            "holder": {"S": self.holder},
            "host": {"S": socket.gethostname()},
            "pid": {"N": str(os.getpid())},
            "expires": {"N": repr(time.time() + self.store.lease_seconds)},
        }

    def _put(self, condition: str, values: dict[str, Any]) -> bool:
        names = {"#k": KEY_ATTR, "#x": "expires", "#h": "holder"}
        try:
            self.store.call(
                "put_item",
                expected=(_CONDITION_FAILED,),
                TableName=self.store.meta_table,
                Item=self._item(),
                ConditionExpression=condition,
                ExpressionAttributeNames={k: v for k, v in names.items() if k in condition},
                ExpressionAttributeValues=values,
            )
        except DynamoDBError:
            return False
        return True

    def acquire(self) -> None:
        deadline = time.monotonic() + self.store.lease_wait_seconds
        attempt = 0
        while True:
            free = "attribute_not_exists(#k) OR #x < :now OR #h = :me"
            if self._put(free, {":now": {"N": repr(time.time())}, ":me": {"S": self.holder}}):
                break
            current = self.store.call(
                "get_item", TableName=self.store.meta_table, Key=self.key, ConsistentRead=True
            ).get("Item")
            if current and self._holder_dead(current):
                # Its process is gone (e.g. killed): take over at once instead of waiting.
                if self._put("#h = :old", {":old": current["holder"]}):
                    break
            if time.monotonic() > deadline:
                who = f"pid {current['pid']['N']} on {current['host']['S']}" if current else "another process"
                raise OnlineStoreError(
                    f"another writer ({who}) is still writing feature view '{self.view}'",
                    hint="wait for it to finish, or re-run later",
                )
            time.sleep(min(1.0, 0.05 * (2 ** min(attempt, 5))) * random.uniform(0.5, 1.0))
            attempt += 1
        self._thread = threading.Thread(target=self._renew, name="sqlfeast-lease", daemon=True)
        self._thread.start()

    @staticmethod
    def _holder_dead(item: dict[str, Any]) -> bool:
        if item.get("host", {}).get("S") != socket.gethostname():
            return False
        pid = int(item["pid"]["N"])
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False

    def _renew(self) -> None:
        while not self._stop.wait(self.store.lease_seconds / 3):
            try:
                if not self._put("#h = :me", {":me": {"S": self.holder}}):
                    self.lost = True
                    return
            except OnlineStoreError:
                continue  # the next write will report the connection problem

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        try:
            self.store.call(
                "delete_item",
                expected=(_CONDITION_FAILED,),
                TableName=self.store.meta_table,
                Key=self.key,
                ConditionExpression="#h = :me",
                ExpressionAttributeNames={"#h": "holder"},
                ExpressionAttributeValues={":me": {"S": self.holder}},
            )
        except (DynamoDBError, OnlineStoreError):
            pass  # it expires by itself


class _DynamoWriter(BulkWriter):
    def __init__(
        self,
        store: DynamoDBOnlineStore,
        view: "FeatureView",
        on_written,
        unique_keys: bool,
        conditional: bool | None = None,
    ):
        super().__init__(on_written)
        self.store, self.view = store, view
        self.table = store.table_name(view.name)
        self.ttl = int(view.ttl_seconds or 0)
        self.conditional = store.newer_wins == "conditional" if conditional is None else conditional
        self.unique_keys = unique_keys
        # Conditional writes of a store in lease mode are pushes: they go through the journal.
        self.journaled = self.conditional and store.newer_wins == "lease"
        self.replayed = 0  # journaled pushes re-applied after the last bulk write
        self.lease: _Lease | None = None
        self.fresh = False
        self._requests = _Requests(store.executor, store.concurrency * 2)
        self._count_lock = threading.Lock()
        if not self.conditional:
            self.lease = _Lease(store, view.name)
            self.lease.acquire()
            store.ensure_journal()
            if unique_keys:
                resp = store.call(
                    "scan",
                    TableName=self.table,
                    Limit=1,
                    ProjectionExpression="#k",
                    ExpressionAttributeNames={"#k": KEY_ATTR},
                )
                self.fresh = not resp.get("Items") and not resp.get("LastEvaluatedKey")

    def _items(self, batch) -> list[dict[str, Any]]:
        # Millions of small acyclic dicts: pausing the cyclic GC while building them avoids
        # repeated full collections over a large heap (measured ~2x on 200k rows).
        paused = gc.isenabled()
        gc.disable()
        try:
            return self._build_items(batch)
        finally:
            if paused:
                gc.enable()

    def _build_items(self, batch) -> list[dict[str, Any]]:
        rows = prepare_rows(self.view, batch)
        keep = range(len(rows)) if self.unique_keys else rows.newest_per_key()
        names = [KEY_ATTR, EVENT_ATTR, CREATED_ATTR, *rows.features]
        columns = [
            [{"S": k} for k in rows.keys],
            [{"N": str(v)} for v in rows.event_ts],
            [{"N": str(v)} for v in rows.created_ts],
            *rows.features.values(),
        ]
        if self.ttl:
            names.append(TTL_ATTR)
            columns.append([{"N": str(v // 1_000_000 + self.ttl)} for v in rows.event_ts])
        if len(keep) != len(rows):
            columns = [[col[i] for i in keep] for col in columns]
            with self._count_lock:  # older duplicates of a key in one batch: skipped, as on SQLite
                self.result.skipped += len(rows) - len(keep)
        items = [dict(zip(names, values)) for values in zip(*columns)]
        self._check_sizes(items, names)
        return items

    def _check_sizes(self, items: list[dict[str, Any]], names: list[str]) -> None:
        """DynamoDB's 400 KB item limit (moto does not enforce it): only variable-size values
        (strings, binary, lists) can get near it, so only those are measured."""
        variable = [f.name for f in self.view.features if f.type.split("(")[0].strip().lower() not in _FIXED_SIZE_TYPES]
        if not variable:
            return
        base = sum(len(n) for n in names) + 30 * len(names)
        for item in items:
            size = base + len(item[KEY_ATTR]["S"]) + sum(attr_size(item[n]) for n in variable)
            if size > MAX_ITEM_BYTES:
                raise OnlineRowsError(
                    f"feature view '{self.view.name}': the row of {item[KEY_ATTR]['S']} is "
                    f"{size // 1024} KB, above DynamoDB's 400 KB item limit",
                    hint="shrink the large feature values or keep them elsewhere",
                )

    def _read_then_write(self, chunk: list[dict[str, Any]]) -> int:
        """The read pass of up to 100 items (one projected BatchGetItem), then BatchWriteItems of
        the ones newer than what is stored. Runs in the pool, so reads and writes overlap."""
        stored = self.store.stored_versions(self.table, [it[KEY_ATTR]["S"] for it in chunk])
        newer = []
        for item in chunk:
            have = stored.get(item[KEY_ATTR]["S"])
            if have is None or (int(item[EVENT_ATTR]["N"]), int(item[CREATED_ATTR]["N"])) > have:
                newer.append(item)
        with self._count_lock:
            self.result.skipped += len(chunk) - len(newer)
        if len(newer) < len(chunk):
            self.on_written(len(chunk) - len(newer))
        for i in range(0, len(newer), WRITE_BATCH):
            self._write_chunk(newer[i : i + WRITE_BATCH])
        return len(newer)

    def write(self, batch: Any) -> None:
        if self.lease is not None and self.lease.lost:
            raise OnlineStoreError(
                f"lost the writer lease of feature view '{self.view.name}'",
                hint="another writer took over; re-run (re-running is safe)",
            )
        self._requests.check()
        items = self._items(batch)
        if self.conditional and self.journaled:
            # A push in lease mode: journal first, so a racing bulk writer re-applies it.
            self.store.journal(self.view.name, items)
        if self.conditional:
            for i in range(0, len(items), WRITE_BATCH):
                self._requests.submit(partial(self._put_each, items[i : i + WRITE_BATCH]))
            return
        if not self.fresh:
            for i in range(0, len(items), READ_BATCH):
                self._requests.submit(partial(self._read_then_write, items[i : i + READ_BATCH]))
            return
        for i in range(0, len(items), WRITE_BATCH):
            self._requests.submit(partial(self._write_chunk, items[i : i + WRITE_BATCH]))

    def _write_chunk(self, chunk: list[dict[str, Any]]) -> int:
        self.store.batch_write(self.table, chunk)
        with self._count_lock:
            self.result.written += len(chunk)
        self.on_written(len(chunk))
        return len(chunk)

    def _put_each(self, chunk: list[dict[str, Any]]) -> int:
        written = sum(1 for item in chunk if self.store.conditional_put(self.table, item))
        with self._count_lock:
            self.result.written += written
            self.result.skipped += len(chunk) - written
        self.on_written(len(chunk))
        return written

    def flush(self):
        self._requests.wait()
        self._requests.check()
        if self.lease is not None:
            if self.lease.lost:
                raise OnlineStoreError(
                    f"lost the writer lease of feature view '{self.view.name}'",
                    hint="another writer took over; re-run (re-running is safe)",
                )
            # Every write is acknowledged: re-apply the pushes that may have raced them.
            self.replayed += self.store.replay_journal(self.view.name, self.table)
        return self.result

    def close(self) -> None:
        try:
            self._requests.cancel()  # nothing of ours may still be writing once the lease is released
        finally:
            if self.lease is not None:
                self.lease.release()


class _DynamoTileWriter(TileWriter):
    """Whole items of an aggregation view under the view's lease, in BatchWriteItems of 25. Unless
    the table was empty at the start, each 100 items are preceded by one consistent BatchGetItem
    of the stored items, whose pushed rows at or after the end are carried into the new items;
    once every write is acknowledged the push journal is replayed (pushes that raced a write)."""

    def __init__(self, store: DynamoDBOnlineStore, view: "FeatureView", materialized_end: int, on_written):
        super().__init__(on_written)
        self.store, self.view, self.end = store, view, materialized_end
        self.table = store.table_name(view.name)
        self.lease = _Lease(store, view.name)
        self.lease.acquire()
        store.ensure_journal()
        resp = store.call(
            "scan", TableName=self.table, Limit=1, ProjectionExpression="#k", ExpressionAttributeNames={"#k": KEY_ATTR}
        )
        self.fresh = not resp.get("Items") and not resp.get("LastEvaluatedKey")
        self._requests = _Requests(store.executor, store.concurrency * 2)
        self._lock = threading.Lock()
        self.replayed = 0

    def write_items(self, items: list[tuple[str, int, bytes, int]]) -> None:
        if self.lease.lost:
            raise OnlineStoreError(
                f"lost the writer lease of feature view '{self.view.name}'",
                hint="another writer took over; re-run (re-running is safe)",
            )
        from sqlfeast.online.tiles import MAX_ITEM_BYTES

        built = []
        for key, event, blob, expires in items:
            if len(blob) + len(key) + 200 > MAX_ITEM_BYTES:
                raise OnlineStoreError(
                    f"feature view '{self.view.name}': the tiles of {key} take {len(blob) // 1024} KB, above "
                    "DynamoDB's 400 KB item limit",
                    hint="use a coarser granularity or shorter windows",
                )
            built.append(
                {
                    KEY_ATTR: {"S": key},
                    EVENT_ATTR: {"N": str(event)},
                    CREATED_ATTR: {"N": "0"},
                    TTL_ATTR: {"N": str(expires)},
                    MAT_END_ATTR: {"N": str(self.end)},
                    TILES_ATTR: {"B": blob},
                }
            )
        step = READ_BATCH if not self.fresh else WRITE_BATCH
        for i in range(0, len(built), step):
            self._requests.submit(partial(self._write, built[i : i + step]))

    def _write(self, chunk: list[dict[str, Any]]) -> None:
        if not self.fresh:
            self._carry_pushes(chunk)
        for i in range(0, len(chunk), WRITE_BATCH):
            self.store.batch_write(self.table, chunk[i : i + WRITE_BATCH])
        with self._lock:
            self.result.written += len(chunk)
        self.on_written(len(chunk))

    def _carry_pushes(self, chunk: list[dict[str, Any]]) -> None:
        from sqlfeast.online.tiles import PushRow, expires_at, plan_of, sub_tile

        plan = plan_of(self.view)
        by_key = {item[KEY_ATTR]["S"]: item for item in chunk}
        spec = {"Keys": [{KEY_ATTR: {"S": k}} for k in by_key], "ConsistentRead": True}
        for response in self.store._batch_get({self.table: spec}):
            for stored in response.get(self.table, []):
                item = by_key.get(stored[KEY_ATTR]["S"])
                if item is None:
                    continue
                for name, value in stored.items():
                    if not name.startswith(PUSH_PREFIX):
                        continue
                    row = PushRow.from_json(value["S"])
                    if row.ts < self.end:
                        continue  # the warehouse covers it now
                    item[name] = value
                    ttl = expires_at(plan, sub_tile(row.ts, plan.granularity_us))
                    if ttl > int(item[TTL_ATTR]["N"]):
                        item[TTL_ATTR] = {"N": str(ttl)}
                    if row.ts > int(item[EVENT_ATTR]["N"]):
                        item[EVENT_ATTR] = {"N": str(row.ts)}

    def flush(self) -> WriteResult:
        self._requests.wait()
        self._requests.check()
        if self.lease.lost:
            raise OnlineStoreError(
                f"lost the writer lease of feature view '{self.view.name}'",
                hint="another writer took over; re-run (re-running is safe)",
            )
        self.replayed += self.store.replay_tile_journal(self.view, self.table)
        return self.result

    def close(self) -> None:
        try:
            self._requests.cancel()
        finally:
            self.lease.release()
