"""A Sleeper instance (0.36) on an AWS endpoint, laid out as Sleeper's own code lays it out, and
read back after an import, with boto3 and pyarrow only: nothing here uses the engine's code.

Every name and shape comes from Sleeper's source: CDK table and queue names
(TableIndexStack, TransactionLogStateStoreStack, IngestTrackerStack, StateStoreCommitterStack),
`instance.properties` and `tables/table-<id>.properties` as java.util.Properties.store writes
them, the DynamoDB items of DynamoDBTableIndex, DynamoDBTransactionLogStore,
DynamoDBTransactionLogSnapshotMetadataStore and DynamoDBIngestJobStatusFormat, the partition
JSON of PartitionSerDe / RegionSerDe, the Arrow snapshot schemas of StateStorePartitionsArrowFormat
and StateStoreFilesArrowFormat, and the StateStoreCommitRequest JSON.

usage: sleeper_instance.py ENDPOINT SCENARIO setup|check|commit|... WORKDIR
"""
import base64
import datetime
import io
import json
import os
import struct
import sys
import time
import uuid

import boto3
import pyarrow as pa
import pyarrow.parquet as pq

REGION = "us-east-1"


def clients(endpoint):
    kwargs = dict(endpoint_url=endpoint, region_name=REGION, aws_access_key_id="test", aws_secret_access_key="test")
    return boto3.client("s3", **kwargs), boto3.client("dynamodb", **kwargs), boto3.client("sqs", **kwargs)


def fail(message):
    print(f"CHECK FAILED: {message}", file=sys.stderr)
    sys.exit(1)


def expect(condition, message):
    if not condition:
        fail(message)


# --- java.util.Properties.store ---------------------------------------------------------------

def escape_property(text, is_key):
    out = []
    for i, ch in enumerate(text):
        if ch == "\\":
            out.append("\\\\")
        elif ch in "=:#!":
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == " " and (is_key or i == 0):
            out.append("\\ ")
        else:
            out.append(ch)
    return "".join(out)


def java_properties(values):
    lines = ["#" + time.strftime("%a %b %d %H:%M:%S UTC %Y", time.gmtime())]
    lines += [f"{escape_property(k, True)}={escape_property(v, False)}" for k, v in values.items()]
    return "\n".join(lines) + "\n"


# --- Java's order of keys ----------------------------------------------------------------------

def java_key(value):
    """A key compared as Sleeper compares it: strings by UTF-16 code units, byte arrays as signed
    bytes, numbers as numbers."""
    if isinstance(value, str):
        return value.encode("utf-16-be")
    if isinstance(value, bytes):
        return tuple(b - 256 if b > 127 else b for b in value)
    return value


def in_region(value, region):
    low, high = region
    return java_key(low) <= java_key(value) and (high is None or java_key(value) < java_key(high))


# --- partitions --------------------------------------------------------------------------------

def minimum(key_type):
    return {"StringType": "", "ByteArrayType": b"", "LongType": -(2**63), "IntType": -(2**31)}[key_type]


def split_tree(key_type, points):
    """A tree over split points as PartitionsFromSplitPoints builds one: the leaves, then each
    level pairing neighbours under a new parent; ids are random UUIDs."""
    bounds = [minimum(key_type)] + list(points) + [None]
    level = [
        {"id": str(uuid.uuid4()), "parent": None, "children": [], "leaf": True, "dimension": -1, "region": (bounds[i], bounds[i + 1])}
        for i in range(len(bounds) - 1)
    ]
    partitions = list(level)
    while len(level) > 1:
        parents = []
        for i in range(0, len(level), 2):
            pair = level[i : i + 2]
            if len(pair) == 1:
                parents.append(pair[0])
                continue
            parent = {"id": str(uuid.uuid4()), "parent": None, "children": [p["id"] for p in pair], "leaf": False, "dimension": 0,
                      "region": (pair[0]["region"][0], pair[1]["region"][1])}
            for p in pair:
                p["parent"] = parent["id"]
            parents.append(parent)
            partitions.append(parent)
        level = parents
    return partitions


def split_leaf(partitions, leaf_id, point):
    """Sleeper's SplitPartition of one leaf at `point`: the parent updated, two new leaves."""
    parent = next(p for p in partitions if p["id"] == leaf_id)
    low, high = parent["region"]
    left = {"id": str(uuid.uuid4()), "parent": parent["id"], "children": [], "leaf": True, "dimension": -1, "region": (low, point)}
    right = {"id": str(uuid.uuid4()), "parent": parent["id"], "children": [], "leaf": True, "dimension": -1, "region": (point, high)}
    parent.update(leaf=False, dimension=0, children=[left["id"], right["id"]])
    partitions.extend([left, right])
    return parent, [left, right]


def json_value(value):
    if isinstance(value, str):
        return base64.b64encode(value.encode("utf-8")).decode()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value


def partition_json(p, key_name):
    low, high = p["region"]
    key_range = {"min": json_value(low), "minInclusive": True}
    if high is not None:
        key_range["max"] = json_value(high)
    key_range["maxInclusive"] = False
    out = {"partitionId": p["id"], "isLeafPartition": p["leaf"]}
    if p["parent"] is not None:
        out["parentPartitionId"] = p["parent"]
    out.update(childPartitionIds=p["children"], region={key_name: key_range, "stringsBase64Encoded": True}, dimension=p["dimension"])
    return out


KEY_STRUCT = pa.struct([pa.field("string", pa.string()), pa.field("long", pa.int64()), pa.field("int", pa.int32()), pa.field("bytes", pa.binary())])
RANGE = pa.struct([pa.field("fieldName", pa.string(), False), pa.field("fieldType", pa.string(), False), pa.field("min", KEY_STRUCT, False), pa.field("max", KEY_STRUCT, True)])
PARTITIONS_SCHEMA = pa.schema([
    pa.field("id", pa.string(), False),
    pa.field("parentId", pa.string(), True),
    pa.field("childIds", pa.list_(pa.field("childId", pa.string(), False)), False),
    pa.field("isLeaf", pa.bool_(), False),
    pa.field("dimension", pa.uint32(), True),
    pa.field("region", pa.list_(pa.field("range", RANGE, False)), False),
])
REFERENCE = pa.struct([
    pa.field("partitionId", pa.string(), False),
    pa.field("updateTime", pa.timestamp("ms"), False),
    pa.field("jobId", pa.string(), True),
    pa.field("numberOfRows", pa.uint64(), False),
    pa.field("countApproximate", pa.bool_(), False),
    pa.field("onlyContainsDataForThisPartition", pa.bool_(), False),
])
FILES_SCHEMA = pa.schema([
    pa.field("filename", pa.string(), False),
    pa.field("updateTime", pa.timestamp("ms"), False),
    pa.field("partitionReferences", pa.list_(pa.field("reference", REFERENCE, False)), False),
])
ARROW_CHILD = {"StringType": "string", "LongType": "long", "IntType": "int", "ByteArrayType": "bytes"}


def key_struct(key_type, value):
    """A region bound: only the child of the key's type set (null for an unbounded max)."""
    out = {"string": None, "long": None, "int": None, "bytes": None}
    out[ARROW_CHILD[key_type]] = value
    return out


def partitions_arrow(partitions, key_name, key_type):
    rows = {
        "id": [p["id"] for p in partitions],
        "parentId": [p["parent"] for p in partitions],
        "childIds": [p["children"] for p in partitions],
        "isLeaf": [p["leaf"] for p in partitions],
        "dimension": [p["dimension"] if p["dimension"] >= 0 else None for p in partitions],
        "region": [[{"fieldName": key_name, "fieldType": key_type, "min": key_struct(key_type, p["region"][0]), "max": key_struct(key_type, p["region"][1])}]
                   for p in partitions],
    }
    return stream_bytes(pa.table(rows, schema=PARTITIONS_SCHEMA))


def files_arrow(files):
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    rows = {
        "filename": [f["filename"] for f in files],
        "updateTime": [now for _ in files],
        "partitionReferences": [[dict(partitionId=r["partitionId"], updateTime=now, jobId=None, numberOfRows=r["numberOfRows"],
                                      countApproximate=False, onlyContainsDataForThisPartition=True) for r in f["references"]] for f in files],
    }
    return stream_bytes(pa.table(rows, schema=FILES_SCHEMA))


def stream_bytes(table):
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        if table.num_rows:
            writer.write_table(table)
    return sink.getvalue()


# --- the instance ------------------------------------------------------------------------------

class Instance:
    def __init__(self, endpoint, instance_id):
        self.s3, self.dynamo, self.sqs = clients(endpoint)
        self.id = instance_id
        self.config_bucket = f"sleeper-{instance_id}-config"
        self.data_bucket = f"sleeper-{instance_id}-table-data"
        self.bulk_import_bucket = f"sleeper-{instance_id}-bulk-import"
        self.by_name = f"sleeper-{instance_id}-table-index-by-name"
        self.by_id = f"sleeper-{instance_id}-table-index-by-id"
        self.by_online = f"sleeper-{instance_id}-table-index-by-online"
        self.files_log = f"sleeper-{instance_id}-file-transaction-log"
        self.partitions_log = f"sleeper-{instance_id}-partition-transaction-log"
        self.latest_snapshots = f"sleeper-{instance_id}-transaction-log-latest-snapshots"
        self.all_snapshots = f"sleeper-{instance_id}-transaction-log-all-snapshots"
        self.updates = f"sleeper-{instance_id}-ingest-job-updates"
        self.lookup = f"sleeper-{instance_id}-ingest-job-lookup"
        self.committer_queue_name = f"sleeper-{instance_id}-StateStoreCommitterQ.fifo"

    def committer_queue_url(self):
        return self.sqs.get_queue_url(QueueName=self.committer_queue_name)["QueueUrl"]

    def create(self, extra_properties=None, committer_queue=True):
        for bucket in (self.config_bucket, self.data_bucket, self.bulk_import_bucket):
            self.s3.create_bucket(Bucket=bucket)
        s, n = "S", "N"
        self._table(self.by_name, [("TableName", s)])
        self._table(self.by_id, [("TableId", s)])
        self._table(self.by_online, [("Online", s), ("TableName", s)])
        for log in (self.files_log, self.partitions_log):
            self._table(log, [("TABLE_ID", s), ("TRANSACTION_NUMBER", n)])
        self._table(self.latest_snapshots, [("TABLE_ID", s)])
        self._table(self.all_snapshots, [("TABLE_ID_AND_SNAPSHOT_TYPE", s), ("TRANSACTION_NUMBER", n)])
        self._table(self.updates, [("TableId", s), ("JobIdAndUpdate", s)])
        self.dynamo.create_table(
            TableName=self.lookup, BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "JobId", "AttributeType": "S"}, {"AttributeName": "LastValidationResult", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "JobId", "KeyType": "HASH"}],
            GlobalSecondaryIndexes=[{"IndexName": "by-validation", "KeySchema": [{"AttributeName": "LastValidationResult", "KeyType": "HASH"}],
                                     "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["TableId"]}}])
        properties = {
            "sleeper.id": self.id,
            "sleeper.config.bucket": self.config_bucket,
            "sleeper.data.bucket": self.data_bucket,
            "sleeper.bulk.import.bucket": self.bulk_import_bucket,
            "sleeper.tables.name.index.dynamo.table": self.by_name,
            "sleeper.tables.id.index.dynamo.table": self.by_id,
            "sleeper.tables.online.index.dynamo.table": self.by_online,
            "sleeper.statestore.transactionlog.dynamo.file.log.table": self.files_log,
            "sleeper.statestore.transactionlog.dynamo.partition.log.table": self.partitions_log,
            "sleeper.statestore.transactionlog.dynamo.latest.snapshots.table": self.latest_snapshots,
            "sleeper.statestore.transactionlog.dynamo.all.snapshots.table": self.all_snapshots,
        }
        if committer_queue:
            url = self.sqs.create_queue(QueueName=self.committer_queue_name, Attributes={
                "FifoQueue": "true", "FifoThroughputLimit": "perMessageGroupId", "DeduplicationScope": "messageGroup"})["QueueUrl"]
            properties["sleeper.statestore.committer.queue.url"] = url
        properties.update(extra_properties or {})
        self.put_properties("instance.properties", properties)

    def put_properties(self, key, values):
        self.s3.put_object(Bucket=self.config_bucket, Key=key, Body=java_properties(values).encode("utf-8"))

    def _table(self, name, keys):
        self.dynamo.create_table(
            TableName=name, BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": k, "AttributeType": t} for k, t in keys],
            KeySchema=[{"AttributeName": k, "KeyType": "HASH" if i == 0 else "RANGE"} for i, (k, _) in enumerate(keys)])

    def add_table(self, name, table_id, schema, properties=None):
        """Sleeper's AddTable: the index entries (one TransactWriteItems) and the properties."""
        item = {"TableName": {"S": name}, "TableId": {"S": table_id}, "Online": {"S": "true"}}
        self.dynamo.transact_write_items(TransactItems=[
            {"Put": {"TableName": self.by_name, "Item": item, "ConditionExpression": "attribute_not_exists(TableName)"}},
            {"Put": {"TableName": self.by_id, "Item": item, "ConditionExpression": "attribute_not_exists(TableId)"}},
            {"Put": {"TableName": self.by_online, "Item": item}},
        ])
        values = {"sleeper.table.name": name, "sleeper.table.id": table_id, "sleeper.table.online": "true", "sleeper.table.schema": json.dumps(schema)}
        values.update(properties or {})
        self.put_properties(f"tables/table-{table_id}.properties", values)

    def put_log_item(self, log, table_id, number, transaction_type, body, in_s3=False):
        text = json.dumps(body, separators=(",", ":"))
        item = {"TABLE_ID": {"S": table_id}, "TRANSACTION_NUMBER": {"N": str(number)}, "UPDATE_TIME": {"N": str(int(time.time() * 1000))},
                "TYPE": {"S": transaction_type}}
        if in_s3:
            key = f"{table_id}/statestore/transactions/{datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.%fZ')}-{uuid.uuid4()}.json"
            self.s3.put_object(Bucket=self.data_bucket, Key=key, Body=text.encode("utf-8"))
            item["BODY_S3_KEY"] = {"S": key}
        else:
            item["BODY"] = {"S": text}
        self.dynamo.put_item(TableName=log, Item=item, ConditionExpression="attribute_not_exists(#Number)",
                             ExpressionAttributeNames={"#Number": "TRANSACTION_NUMBER"})

    def put_snapshot(self, table_id, kind, number, data):
        """A snapshot file in the data bucket and its metadata (`FILES` or `PARTITIONS`)."""
        key = f"{table_id}/statestore/snapshots/{number}-{kind.lower()}.arrow"
        self.s3.put_object(Bucket=self.data_bucket, Key=key, Body=data)
        path = f"s3a://{self.data_bucket}/{key}"
        now = str(int(time.time() * 1000))
        self.dynamo.put_item(TableName=self.all_snapshots, Item={
            "TABLE_ID_AND_SNAPSHOT_TYPE": {"S": f"{table_id}|{kind}"}, "TRANSACTION_NUMBER": {"N": str(number)}, "TABLE_ID": {"S": table_id},
            "PATH": {"S": path}, "UPDATE_TIME": {"N": now}, "SNAPSHOT_TYPE": {"S": kind}})
        self.dynamo.update_item(
            TableName=self.latest_snapshots, Key={"TABLE_ID": {"S": table_id}},
            UpdateExpression="SET #Path = :path, #TransactionNumber = :transaction_number, #UpdateTime = :update_time",
            ExpressionAttributeNames={"#Path": f"{kind}_SNAPSHOT_PATH", "#TransactionNumber": f"{kind}_TRANSACTION_NUMBER", "#UpdateTime": "UPDATE_TIME"},
            ExpressionAttributeValues={":path": {"S": path}, ":transaction_number": {"N": str(number)}, ":update_time": {"N": now}})

    def log_items(self, log, table_id):
        items, start = [], None
        while True:
            kwargs = dict(TableName=log, KeyConditionExpression="TABLE_ID = :t", ExpressionAttributeValues={":t": {"S": table_id}}, ConsistentRead=True)
            if start:
                kwargs["ExclusiveStartKey"] = start
            page = self.dynamo.query(**kwargs)
            items += page["Items"]
            start = page.get("LastEvaluatedKey")
            if not start:
                return items

    def log_body(self, item):
        if "BODY" in item:
            return json.loads(item["BODY"]["S"])
        return json.loads(self.s3.get_object(Bucket=self.data_bucket, Key=item["BODY_S3_KEY"]["S"])["Body"].read())

    def tracker_updates(self, table_id, job_id):
        items = self.dynamo.query(TableName=self.updates, KeyConditionExpression="TableId = :t AND begins_with(JobIdAndUpdate, :j)",
                                  ExpressionAttributeValues={":t": {"S": table_id}, ":j": {"S": f"{job_id}|"}})["Items"]
        return sorted(items, key=lambda i: int(i["UpdateTime"]["N"]))

    def write_tracker_update(self, table_id, job_id, update_type, attributes):
        """An update as Sleeper's own processes write it (the follower's `addedFiles`)."""
        now = int(time.time() * 1000)
        item = {"TableId": {"S": table_id}, "JobId": {"S": job_id}, "JobIdAndUpdate": {"S": f"{job_id}|{now}|{os.urandom(4).hex()}"},
                "UpdateTime": {"N": str(now)}, "ExpiryDate": {"N": str(now // 1000 + 604800)}, "UpdateType": {"S": update_type}}
        item.update(attributes)
        self.dynamo.put_item(TableName=self.updates, Item=item)
        expression = ("SET TableId = :table, FirstUpdateTime = if_not_exists(FirstUpdateTime, :u), LastUpdateTime = :u, "
                      "LastUpdateType = :t, ExpiryDate = if_not_exists(ExpiryDate, :e)")
        values = {":table": {"S": table_id}, ":u": {"N": str(now)}, ":t": {"S": update_type}, ":e": item["ExpiryDate"]}
        if "ValidationResult" in attributes:
            expression += ", LastValidationResult = :v"
            values[":v"] = attributes["ValidationResult"]
        self.dynamo.update_item(TableName=self.lookup, Key={"JobId": {"S": job_id}}, UpdateExpression=expression, ExpressionAttributeValues=values)

    def data_objects(self, table_id):
        keys, token = [], None
        while True:
            kwargs = dict(Bucket=self.data_bucket, Prefix=f"{table_id}/data/")
            if token:
                kwargs["ContinuationToken"] = token
            page = self.s3.list_objects_v2(**kwargs)
            keys += [o["Key"] for o in page.get("Contents", [])]
            token = page.get("NextContinuationToken")
            if not token:
                return keys

    def read_parquet(self, url):
        expect(url.startswith(f"s3a://{self.data_bucket}/"), f"{url} is not an s3a:// URI in the data bucket")
        key = url[len(f"s3a://{self.data_bucket}/"):]
        return pq.read_table(io.BytesIO(self.s3.get_object(Bucket=self.data_bucket, Key=key)["Body"].read()))


# --- sketches ----------------------------------------------------------------------------------

def sketch_min_max_n(data, key_kind):
    """The first row key's sketch of a `.sketches` file (Sleeper's SketchesSerDe), read by
    DataSketches with Java's serdes (strings as UTF-8 with a little-endian length, which
    PyStringsSerDe misreads beyond ASCII)."""
    from datasketches import PyLongsSerDe, PyObjectSerDe, quantiles_items_sketch

    class StringsSerDe(PyObjectSerDe):
        def get_size(self, item):
            return 4 + len(item.encode("utf-8"))

        def to_bytes(self, item):
            encoded = item.encode("utf-8")
            return struct.pack("<i", len(encoded)) + encoded

        def from_bytes(self, data, offset):
            (length,) = struct.unpack_from("<i", data, offset)
            return bytes(data[offset + 4:offset + 4 + length]).decode("utf-8"), 4 + length

    (length,) = struct.unpack_from(">i", data, 0)
    serde = StringsSerDe() if key_kind == "string" else PyLongsSerDe()
    sketch = quantiles_items_sketch.deserialize(data[4:4 + length], serde)
    return sketch.get_min_value(), sketch.get_max_value(), sketch.n


def check_files(instance, table_id, files, leaves, key_name, key_kind, expected_rows):
    """Every file committed: in its leaf's directory, sorted by (key, timestamp) in byte order,
    every key inside its leaf in Java order, one file per leaf, with a readable sketch; the
    rows add up."""
    total, seen_leaves = 0, set()
    for f in files:
        url, references = f["filename"], f["references"]
        expect(len(references) == 1, f"{url}: {len(references)} references")
        reference = references[0]
        leaf = reference["partitionId"]
        expect(leaf in leaves, f"{url} is committed to {leaf}, not a leaf")
        expect(leaf not in seen_leaves, f"two files for leaf {leaf}")
        seen_leaves.add(leaf)
        expect(f"/{table_id}/data/partition_{leaf}/" in url and url.endswith(".parquet"), f"{url} is not where Sleeper puts a file of {leaf}")
        expect(reference["countApproximate"] is False and reference["onlyContainsDataForThisPartition"] is True, f"{url}: {reference}")
        table = instance.read_parquet(url)
        expect(table.num_rows == reference["numberOfRows"], f"{url} holds {table.num_rows} rows, committed as {reference['numberOfRows']}")
        keys, times = table.column(key_name).to_pylist(), table.column("timestamp").to_pylist()
        order = [(k.encode("utf-8") if isinstance(k, str) else k, t) for k, t in zip(keys, times)]
        expect(order == sorted(order), f"{url} is not sorted by key then timestamp")
        expect(all(in_region(k, leaves[leaf]) for k in keys), f"{url} holds keys outside leaf {leaf} {leaves[leaf]}")
        sketches = url.replace(".parquet", ".sketches")[len(f"s3a://{instance.data_bucket}/"):]
        data = instance.s3.get_object(Bucket=instance.data_bucket, Key=sketches)["Body"].read()
        low, high, n = sketch_min_max_n(data, key_kind)
        expect(n == table.num_rows, f"{sketches}: sketch of {n} keys, file of {table.num_rows} rows")
        expect(low == min(keys, key=java_key) and high == max(keys, key=java_key), f"{sketches}: min/max {low!r}/{high!r}")
        total += table.num_rows
    expect(total == expected_rows, f"the files hold {total} rows, the input {expected_rows}")


# --- scenarios ---------------------------------------------------------------------------------

STRING_SCHEMA = {"rowKeyFields": [{"name": "key", "type": "StringType"}], "sortKeyFields": [{"name": "timestamp", "type": "LongType"}],
                 "valueFields": [{"name": "value", "type": "StringType"}]}
LONG_SCHEMA = {"rowKeyFields": [{"name": "id", "type": "LongType"}], "sortKeyFields": [{"name": "timestamp", "type": "LongType"}],
               "valueFields": [{"name": "value", "type": "StringType"}]}


def save(workdir, name, value):
    with open(os.path.join(workdir, name), "w") as f:
        json.dump(value, f)


def load(workdir, name):
    with open(os.path.join(workdir, name)) as f:
        return json.load(f)


def leaves_of(partitions):
    return {p["id"]: p["region"] for p in partitions if p["leaf"]}


def setup_async(endpoint, workdir):
    """String keys whose Java and UTF-8 orders differ; partitions from a snapshot at transaction
    3 plus a log tail (items 1-3 deleted, one body in S3); a file already in the table; default
    (asynchronous) commits."""
    instance = Instance(endpoint, "async")
    instance.create()
    table_id = "1a2b3c4d"
    instance.add_table("strings", table_id, STRING_SCHEMA, {"sleeper.table.bulk.import.min.leaf.partitions": "1"})
    partitions = split_tree("StringType", ["m"])
    instance.put_snapshot(table_id, "PARTITIONS", 3, partitions_arrow(partitions, "key", "StringType"))
    left = next(p["id"] for p in partitions if p["leaf"] and p["region"][1] == "m")
    right = next(p["id"] for p in partitions if p["leaf"] and p["region"][0] == "m")
    parent, children = split_leaf(partitions, left, "b")
    instance.put_log_item(instance.partitions_log, table_id, 4, "SPLIT_PARTITION",
                          {"parent": partition_json(parent, "key"), "newChildren": [partition_json(c, "key") for c in children]})
    parent, children = split_leaf(partitions, right, "\U0001F600")
    instance.put_log_item(instance.partitions_log, table_id, 5, "SPLIT_PARTITION",
                          {"parent": partition_json(parent, "key"), "newChildren": [partition_json(c, "key") for c in children]}, in_s3=True)
    top = next(c["id"] for c in children if c["region"][1] is None)
    parent, children = split_leaf(partitions, top, "\uE000")
    instance.put_log_item(instance.partitions_log, table_id, 6, "SPLIT_PARTITION",
                          {"parent": partition_json(parent, "key"), "newChildren": [partition_json(c, "key") for c in children]})
    existing = {"filename": f"s3a://{instance.data_bucket}/{table_id}/data/partition_{left}/existing.parquet",
                "references": [{"partitionId": left, "numberOfRows": 7, "countApproximate": False, "onlyContainsDataForThisPartition": True}]}
    instance.put_snapshot(table_id, "FILES", 2, files_arrow([existing]))
    instance.put_log_item(instance.files_log, table_id, 3, "ADD_FILES", {"files": [
        {"filename": f"s3a://{instance.data_bucket}/{table_id}/data/partition_{right}/second.parquet",
         "references": [{"partitionId": right, "numberOfRows": 3, "countApproximate": False, "onlyContainsDataForThisPartition": True}]}]})
    save(workdir, "state.json", {"table_id": table_id, "leaves": leaves_of(partitions)})


def check_async(endpoint, workdir):
    instance = Instance(endpoint, "async")
    state = load(workdir, "state.json")
    table_id, leaves = state["table_id"], {k: tuple(v) for k, v in state["leaves"].items()}
    job = load(workdir, "job.json")
    expected_rows = int(load(workdir, "rows.json"))
    messages = instance.sqs.receive_message(QueueUrl=instance.committer_queue_url(), MaxNumberOfMessages=10, AttributeNames=["All"],
                                            VisibilityTimeout=0)["Messages"]
    expect(len(messages) == 1, f"{len(messages)} commit messages, not one")
    message = messages[0]
    expect(message["Attributes"]["MessageGroupId"] == table_id, f"message group {message['Attributes']['MessageGroupId']}")
    expect(len(message["Attributes"]["MessageDeduplicationId"]) == 36, "the deduplication id is not a UUID")
    request = json.loads(message["Body"])
    expect(set(request) == {"tableId", "transactionType", "transaction"}, f"request fields {sorted(request)}")
    expect(request["tableId"] == table_id and request["transactionType"] == "ADD_FILES", f"{request['tableId']} {request['transactionType']}")
    transaction = request["transaction"]
    expect(list(transaction) == ["jobId", "taskId", "jobRunId", "writtenTime", "files"], f"transaction fields {list(transaction)}")
    expect(transaction["jobId"] == job["id"], f"job id {transaction['jobId']}")
    expect(isinstance(transaction["writtenTime"], int) and abs(transaction["writtenTime"] / 1000 - time.time()) < 600, "writtenTime is not epoch ms")
    check_files(instance, table_id, transaction["files"], leaves, "key", "string", expected_rows)
    expect(len(instance.log_items(instance.files_log, table_id)) == 1, "an asynchronous commit wrote to the files log")
    updates = instance.tracker_updates(table_id, job["id"])
    kinds = [u["UpdateType"]["S"] for u in updates]
    expect(kinds == ["validated", "started", "finished"], f"tracker updates {kinds}")
    validated, started, finished = updates
    run = validated["JobRunId"]["S"]
    expect(validated["ValidationResult"]["S"] == "ACCEPTED" and validated["ValidationReasons"]["L"] == [], f"{validated}")
    expect(started["JobRunId"]["S"] == run and finished["JobRunId"]["S"] == run, "the run's updates do not share its JobRunId")
    expect(started["TaskId"]["S"] == transaction["taskId"] == finished["TaskId"]["S"], "task ids differ")
    expect(transaction["jobRunId"] == run, "the commit's jobRunId is not the run's")
    expect(finished["JobCommittedWhenFilesAdded"]["BOOL"] is True, "finished does not say the files are committed separately")
    expect(int(finished["FilesWrittenCount"]["N"]) == len(transaction["files"]), "FilesWrittenCount")
    expect(int(finished["RowsRead"]["N"]) == int(finished["RowsWritten"]["N"]) == expected_rows, "rows")
    for item in updates:
        expect(item["JobIdAndUpdate"]["S"].startswith(f"{job['id']}|{item['UpdateTime']['N']}|"), f"sort key {item['JobIdAndUpdate']}")
        expect(int(item["ExpiryDate"]["N"]) > time.time() + 600000, "ExpiryDate is not epoch seconds a week ahead")
    lookup = instance.dynamo.get_item(TableName=instance.lookup, Key={"JobId": {"S": job["id"]}})["Item"]
    expect(lookup["LastUpdateType"]["S"] == "finished" and lookup["TableId"]["S"] == table_id and lookup["LastValidationResult"]["S"] == "ACCEPTED", f"{lookup}")
    # Sleeper's report: FINISHED_WHEN_FILES_COMMITTED with no addedFiles is UNCOMMITTED.
    print("UNCOMMITTED")


def commit_async(endpoint, workdir):
    """Plays Sleeper's committer and its log follower: appends the requested ADD_FILES to the
    files log, and records `addedFiles` for the job."""
    instance = Instance(endpoint, "async")
    table_id = load(workdir, "state.json")["table_id"]
    queue = instance.committer_queue_url()
    message = instance.sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=1)["Messages"][0]
    request = json.loads(message["Body"])
    number = max(int(i["TRANSACTION_NUMBER"]["N"]) for i in instance.log_items(instance.files_log, table_id)) + 1
    instance.put_log_item(instance.files_log, table_id, number, "ADD_FILES", request["transaction"])
    instance.sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    transaction = request["transaction"]
    instance.write_tracker_update(table_id, transaction["jobId"], "addedFiles", {
        "FilesWrittenTime": {"N": str(transaction["writtenTime"])}, "JobRunId": {"S": transaction["jobRunId"]},
        "TaskId": {"S": transaction["taskId"]}, "FilesWrittenCount": {"N": str(len(transaction["files"]))}})


def setup_sync(endpoint, workdir):
    """Long keys, partitions from the log alone (no snapshot, log from 1), synchronous commits
    (as Sleeper's LocalStack deployment forces)."""
    instance = Instance(endpoint, "sync")
    instance.create({"sleeper.default.table.statestore.commit.async.behaviour": "DISABLED"})
    table_id = "5e6f7a8b"
    instance.add_table("longs", table_id, LONG_SCHEMA, {"sleeper.table.bulk.import.min.leaf.partitions": "0"})
    partitions = split_tree("LongType", [-1000, 0, 1 << 40])
    instance.put_log_item(instance.partitions_log, table_id, 1, "INITIALISE_PARTITIONS", {"partitions": [partition_json(p, "id") for p in partitions]})
    save(workdir, "state.json", {"table_id": table_id, "leaves": leaves_of(partitions)})


def check_sync(endpoint, workdir):
    instance = Instance(endpoint, "sync")
    state = load(workdir, "state.json")
    table_id, leaves = state["table_id"], {k: tuple(v) for k, v in state["leaves"].items()}
    job, expected_rows = load(workdir, "job.json"), int(load(workdir, "rows.json"))
    items = instance.log_items(instance.files_log, table_id)
    expect([int(i["TRANSACTION_NUMBER"]["N"]) for i in items] == [1], f"files log {[i['TRANSACTION_NUMBER'] for i in items]}")
    item = items[0]
    expect(item["TYPE"]["S"] == "ADD_FILES" and "BODY" in item, f"{item['TYPE']}")
    body = instance.log_body(item)
    expect(list(body) == ["files"], f"a synchronous commit carries the files alone, not {list(body)}")
    check_files(instance, table_id, body["files"], leaves, "id", "long", expected_rows)
    committed = {f["filename"][len(f"s3a://{instance.data_bucket}/"):] for f in body["files"]}
    expected = committed | {key.replace(".parquet", ".sketches") for key in committed}
    stray = sorted(set(instance.data_objects(table_id)) - expected)
    expect(not stray, f"objects in the data directory that no commit names: {stray}")
    kinds = [u["UpdateType"]["S"] for u in instance.tracker_updates(table_id, job["id"])]
    expect(kinds == ["validated", "started", "finished"], f"tracker updates {kinds}")
    finished = instance.tracker_updates(table_id, job["id"])[-1]
    expect(finished["JobCommittedWhenFilesAdded"]["BOOL"] is False, "a synchronous commit is committed when finished")
    expect(len(instance.sqs.list_queues().get("QueueUrls", [])) == 1 and "Messages" not in instance.sqs.receive_message(QueueUrl=instance.committer_queue_url()),
           "a synchronous commit sent a message")
    print("FINISHED")


def setup_presplit(endpoint, workdir):
    """A table of 4 leaves and Sleeper's default minimum of 256 leaves for a bulk import."""
    instance = Instance(endpoint, "presplit")
    instance.create({"sleeper.default.table.statestore.commit.async.behaviour": "DISABLED"})
    table_id = "9c0d1e2f"
    instance.add_table("split", table_id, STRING_SCHEMA)
    partitions = split_tree("StringType", ["g", "n", "t"])
    instance.put_log_item(instance.partitions_log, table_id, 1, "INITIALISE_PARTITIONS", {"partitions": [partition_json(p, "key") for p in partitions]})
    save(workdir, "state.json", {"table_id": table_id})


def check_presplit(endpoint, workdir):
    instance = Instance(endpoint, "presplit")
    table_id = load(workdir, "state.json")["table_id"]
    expected_rows = int(load(workdir, "rows.json"))
    items = sorted(instance.log_items(instance.partitions_log, table_id), key=lambda i: int(i["TRANSACTION_NUMBER"]["N"]))
    expect([i["TYPE"]["S"] for i in items] == ["INITIALISE_PARTITIONS", "EXTEND_PARTITION_TREE"], f"partitions log {[i['TYPE'] for i in items]}")
    partitions = {}
    for item in items:
        body = instance.log_body(item)
        for p in body.get("partitions", []) + body.get("updatePartitions", []) + body.get("newPartitions", []):
            partitions[p["partitionId"]] = p
    leaves = {}
    for p in partitions.values():
        if p["isLeafPartition"]:
            key_range = p["region"]["key"]
            low = base64.b64decode(key_range["min"]).decode("utf-8")
            high = base64.b64decode(key_range["max"]).decode("utf-8") if "max" in key_range else None
            leaves[p["partitionId"]] = (low, high)
    expect(len(leaves) >= 200, f"split to {len(leaves)} leaves, not about 256")
    for p in partitions.values():
        if "parentPartitionId" in p:
            expect(p["parentPartitionId"] in partitions, f"{p['partitionId']} has an unknown parent")
    files_items = instance.log_items(instance.files_log, table_id)
    expect(len(files_items) == 1, f"{len(files_items)} files-log items")
    check_files(instance, table_id, instance.log_body(files_items[0])["files"], leaves, "key", "string", expected_rows)
    print(f"LEAVES {len(leaves)}")


def setup_bad(endpoint, workdir):
    """Instances and tables a job cannot import into, each for its own reason."""
    instance = Instance(endpoint, "bad")
    instance.create()
    for name, table_id, properties in [("ok", "0000000a", {}), ("s3store", "0000000b", {"sleeper.table.statestore.classname": "S3StateStore"}),
                                       ("nosnapshot", "0000000c", {}), ("gap", "0000000d", {})]:
        properties["sleeper.table.bulk.import.min.leaf.partitions"] = "1"
        instance.add_table(name, table_id, STRING_SCHEMA, properties)
    for table_id in ("0000000a", "0000000b"):
        partitions = split_tree("StringType", ["m"])
        instance.put_log_item(instance.partitions_log, table_id, 1, "INITIALISE_PARTITIONS", {"partitions": [partition_json(p, "key") for p in partitions]})
    # A snapshot the latest-snapshots table names, missing from the data bucket.
    instance.put_snapshot("0000000c", "PARTITIONS", 5, b"")
    instance.s3.delete_object(Bucket=instance.data_bucket, Key="0000000c/statestore/snapshots/5-partitions.arrow")
    # A log with a gap after its snapshot.
    partitions = split_tree("StringType", ["m"])
    instance.put_snapshot("0000000d", "PARTITIONS", 3, partitions_arrow(partitions, "key", "StringType"))
    leaf = next(p["id"] for p in partitions if p["leaf"])
    parent, children = split_leaf(partitions, leaf, "c")
    instance.put_log_item(instance.partitions_log, "0000000d", 5, "SPLIT_PARTITION",
                          {"parent": partition_json(parent, "key"), "newChildren": [partition_json(c, "key") for c in children]})
    # An instance whose committer queue does not exist.
    missing_queue = Instance(endpoint, "noqueue")
    missing_queue.create({"sleeper.statestore.committer.queue.url": endpoint + "/123456789012/sleeper-noqueue-StateStoreCommitterQ.fifo"}, committer_queue=False)
    missing_queue.add_table("ok", "0000000e", STRING_SCHEMA, {"sleeper.table.bulk.import.min.leaf.partitions": "1"})
    partitions = split_tree("StringType", ["m"])
    missing_queue.put_log_item(missing_queue.partitions_log, "0000000e", 1, "INITIALISE_PARTITIONS", {"partitions": [partition_json(p, "key") for p in partitions]})
    # A config bucket whose instance.properties lacks the data bucket.
    incomplete = Instance(endpoint, "incomplete")
    incomplete.s3.create_bucket(Bucket=incomplete.config_bucket)
    incomplete.put_properties("instance.properties", {"sleeper.id": "incomplete"})


def check_bad(endpoint, workdir):
    """Nothing was written: no data, no log item beyond the fixture's, no commit message, no
    tracker update but the rejections."""
    for instance_id, tables in [("bad", ["0000000a", "0000000b", "0000000c", "0000000d"]), ("noqueue", ["0000000e"])]:
        instance = Instance(endpoint, instance_id)
        for table_id in tables:
            expect(instance.data_objects(table_id) == [], f"{instance_id} table {table_id} has data: {instance.data_objects(table_id)}")
            expect(instance.log_items(instance.files_log, table_id) == [], f"{instance_id} table {table_id} has a files-log item")
            partitions_items = instance.log_items(instance.partitions_log, table_id)
            expect(len(partitions_items) <= 1, f"{instance_id} table {table_id} has {len(partitions_items)} partitions-log items")
    bad = Instance(endpoint, "bad")
    expect("Messages" not in bad.sqs.receive_message(QueueUrl=bad.committer_queue_url(), VisibilityTimeout=0), "a commit message was sent")
    # Rejections are recorded as Sleeper's starter words them, where its reports read them.
    for job_id, reason in [("job-nope", "Table not found")]:
        lookup = bad.dynamo.get_item(TableName=bad.lookup, Key={"JobId": {"S": job_id}})["Item"]
        updates = bad.tracker_updates(lookup["TableId"]["S"], job_id)
        expect(lookup["LastValidationResult"]["S"] == "REJECTED" and updates and updates[-1]["UpdateType"]["S"] == "validated", f"{job_id}: {lookup}")
        reasons = [r["S"] for r in updates[-1]["ValidationReasons"]["L"]]
        expect(reason in reasons, f"{job_id}: reasons {reasons}")
        expect(updates[-1]["ValidationResult"]["S"] == "REJECTED" and "JsonMessage" in updates[-1], f"{job_id}: {updates[-1]}")
    print("NOTHING WRITTEN")


def setup_swap(endpoint, workdir):
    """What Sleeper's starter leaves for its driver: the job validated and accepted under a run
    id in the tracker, and its JSON in the bulk import bucket (BulkImportExecutor)."""
    instance = Instance(endpoint, "swap")
    instance.create({"sleeper.default.table.statestore.commit.async.behaviour": "DISABLED"})
    table_id = "3a4b5c6d"
    instance.add_table("swapped", table_id, STRING_SCHEMA, {"sleeper.table.bulk.import.min.leaf.partitions": "1"})
    partitions = split_tree("StringType", ["h", "q"])
    instance.put_log_item(instance.partitions_log, table_id, 1, "INITIALISE_PARTITIONS", {"partitions": [partition_json(p, "key") for p in partitions]})
    job = {"id": "swap-job", "tableName": "swapped", "tableId": table_id, "files": ["input-bucket/swap/"]}
    instance.s3.put_object(Bucket=instance.bulk_import_bucket, Key="bulk_import/swap-job-run-from-starter.json", Body=json.dumps(job).encode())
    instance.write_tracker_update(table_id, "swap-job", "validated", {
        "ValidationTime": {"N": str(int(time.time() * 1000))}, "ValidationResult": {"S": "ACCEPTED"}, "ValidationReasons": {"L": []},
        "InputFilesCount": {"N": "1"}, "JobRunId": {"S": "run-from-starter"}})
    save(workdir, "state.json", {"table_id": table_id, "leaves": leaves_of(partitions)})


def check_swap(endpoint, workdir):
    instance = Instance(endpoint, "swap")
    state = load(workdir, "state.json")
    table_id, leaves = state["table_id"], {k: tuple(v) for k, v in state["leaves"].items()}
    listed = instance.s3.list_objects_v2(Bucket=instance.bulk_import_bucket).get("Contents", [])
    expect(listed == [], f"the job's JSON is still in the bulk import bucket: {[o['Key'] for o in listed]}")
    updates = instance.tracker_updates(table_id, "swap-job")
    expect([u["UpdateType"]["S"] for u in updates] == ["validated", "started", "finished"], f"{[u['UpdateType'] for u in updates]}")
    for update in updates[1:]:
        expect(update["JobRunId"]["S"] == "run-from-starter" and update["TaskId"]["S"] == "eks-state-machine-arn", f"{update}")
    items = instance.log_items(instance.files_log, table_id)
    expect(len(items) == 1, f"{len(items)} files-log items")
    check_files(instance, table_id, instance.log_body(items[0])["files"], leaves, "key", "string", int(load(workdir, "rows.json")))
    print("DRIVEN")


def setup_queue(endpoint, workdir):
    """An instance with its EKS bulk import queue, and a job (and a repeat of it) on the queue."""
    instance = Instance(endpoint, "queue")
    instance.create({"sleeper.default.table.statestore.commit.async.behaviour": "DISABLED"})
    # A short visibility timeout: a message a killed consumer took comes back in seconds.
    url = instance.sqs.create_queue(QueueName="sleeper-queue-BulkImportEKSQ", Attributes={"VisibilityTimeout": "3"})["QueueUrl"]
    table_id = "7e8f9a0b"
    instance.add_table("queued", table_id, STRING_SCHEMA, {"sleeper.table.bulk.import.min.leaf.partitions": "1"})
    partitions = split_tree("StringType", ["m"])
    instance.put_log_item(instance.partitions_log, table_id, 1, "INITIALISE_PARTITIONS", {"partitions": [partition_json(p, "key") for p in partitions]})
    save(workdir, "state.json", {"table_id": table_id, "leaves": leaves_of(partitions), "queue": url})
    print(url)


def send_queue(endpoint, workdir):
    instance = Instance(endpoint, "queue")
    url = load(workdir, "state.json")["queue"]
    job = json.dumps({"id": "queued-job", "tableName": "queued", "files": ["input-bucket/queue/"]})
    instance.sqs.send_message(QueueUrl=url, MessageBody=job)


def check_queue(endpoint, workdir):
    instance = Instance(endpoint, "queue")
    state = load(workdir, "state.json")
    table_id, leaves = state["table_id"], {k: tuple(v) for k, v in state["leaves"].items()}
    attributes = instance.sqs.get_queue_attributes(QueueUrl=state["queue"], AttributeNames=["All"])["Attributes"]
    expect(attributes["ApproximateNumberOfMessages"] == "0" and attributes["ApproximateNumberOfMessagesNotVisible"] == "0",
           f"messages left on the queue: {attributes}")
    items = instance.log_items(instance.files_log, table_id)
    expect(len(items) == 1, f"{len(items)} files-log items: the job committed {len(items)} times")
    check_files(instance, table_id, instance.log_body(items[0])["files"], leaves, "key", "string", int(load(workdir, "rows.json")))
    print("CONSUMED")


def setup_bench(endpoint, workdir):
    """The benchmark's table: 256 leaves at the split points `generate --split-points` printed
    (in WORKDIR/split-points.txt), synchronous or asynchronous commits as WORKDIR/commit says."""
    instance = Instance(endpoint, "bench")
    commit = open(os.path.join(workdir, "commit")).read().strip()
    instance.create({"sleeper.default.table.statestore.commit.async.behaviour": "DISABLED"} if commit == "sync" else {})
    points = [line for line in open(os.path.join(workdir, "split-points.txt")).read().splitlines() if line]
    instance.add_table("bench", "b0b0b0b0", STRING_SCHEMA, {"sleeper.table.bulk.import.min.leaf.partitions": "1"})
    partitions = split_tree("StringType", points)
    instance.put_snapshot("b0b0b0b0", "PARTITIONS", 1, partitions_arrow(partitions, "key", "StringType"))
    print(len(leaves_of(partitions)))


def upload_bench(endpoint, workdir):
    s3 = clients(endpoint)[0]
    s3.create_bucket(Bucket="bench-input")
    local = os.path.join(workdir, "input")
    for name in sorted(os.listdir(local)):
        if name.endswith(".parquet"):
            s3.upload_file(os.path.join(local, name), "bench-input", f"bench/{name}")


SCENARIOS = {
    ("async", "setup"): setup_async, ("async", "check"): check_async, ("async", "commit"): commit_async,
    ("sync", "setup"): setup_sync, ("sync", "check"): check_sync,
    ("presplit", "setup"): setup_presplit, ("presplit", "check"): check_presplit,
    ("bad", "setup"): setup_bad, ("bad", "check"): check_bad,
    ("swap", "setup"): setup_swap, ("swap", "check"): check_swap,
    ("queue", "setup"): setup_queue, ("queue", "send"): send_queue, ("queue", "check"): check_queue,
    ("bench", "setup"): setup_bench, ("bench", "upload"): upload_bench,
}


def main():
    endpoint, scenario, step, workdir = sys.argv[1:5]
    SCENARIOS[(scenario, step)](endpoint, workdir)


if __name__ == "__main__":
    main()
