# ruff: noqa: E501 - the corpus holds real-length log lines, one per template
"""A labelled corpus of log and alert messages, for measuring how well templates group them.

Written for this project (no public log data set is copied): each family is a kind of source a
team actually runs (Java and Python services, Go services, nginx and envoy, PostgreSQL, Kubernetes
events, cloud SDK errors, syslog, Node.js, Kafka clients), each template is one kind of line as that
source writes it, and its `{fields}` are what varies from one line to the next: identifiers,
numbers, addresses and times, and also plain words (user, bucket, table, container names) that no
mask can recognise. The label of a line is its service and its template: two lines belong together
exactly when they are the same kind of line from the same service.

The lines are expanded deterministically (a fixed seed), so every run measures the same corpus.
Names that contain digits (`s3`, `k8s`, `http2`, `oauth2`, `utf8`, `ssh2`, `ext4`, `eth0`, `sha256`,
`e2e-…`) appear on purpose: they are names, and two failures that differ only in them are different.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable
from dataclasses import dataclass

Fill = Callable[[random.Random], str]

USERS = ["alice", "bob", "carol", "dmitri", "erin", "farah", "gus", "hana", "ivan", "jo", "kemal", "lena"]
BUCKETS = ["acme-invoices", "media-uploads", "backup-nightly", "exports-eu", "thumbnails", "audit-trail"]
TABLES = ["orders", "invoices", "customers", "line_items", "shipments", "payments", "sessions"]
CONTAINERS = ["api", "worker", "sidecar", "migrator", "cache-warmer"]
NAMESPACES = ["shop", "billing", "platform", "search", "identity"]
DEPLOYS = ["checkout", "orders", "billing-worker", "search-indexer", "auth-proxy"]
QUEUES = ["emails", "webhooks", "invoices", "thumbnails", "reindex"]
CLIENTS = ["mobile-app", "partner-portal", "backoffice", "cli"]
UNITS = ["nginx", "postgresql", "node-exporter", "containerd", "kubelet"]
PROCS = ["java", "python3", "postgres", "node", "envoy"]
AZS = ["us-east-1a", "us-east-1b", "eu-west-1c", "eu-central-1a"]
SECRETS = ["db-credentials", "tls-cert", "stripe-key", "oauth-client"]
VOLUMES = ["config", "certs", "data", "tmp"]
IMAGES = ["shop/checkout", "shop/orders", "platform/envoy", "billing/worker"]
METHODS = ["GET", "POST", "PUT", "DELETE"]
ENDPOINTS = ["/api/orders", "/api/cart", "/api/users/me", "/api/search", "/api/payments", "/healthz"]
AGENTS = ["Mozilla/5.0", "curl/8.5.0", "okhttp/4.12.0", "python-requests/2.32.3", "Go-http-client/2.0"]
MONTHS = ["Jan", "Feb", "Mar", "Nov", "Dec"]
# Free text of varying length inside one kind of line: the hard case for a miner that compares
# lines of the same length only.
STATEMENTS = [
    "SELECT * FROM orders WHERE id = $1",
    "SELECT o.id, o.total FROM orders o JOIN customers c ON c.id = o.customer_id WHERE c.email = $1",
    "UPDATE invoices SET status = $1 WHERE id = $2",
    "DELETE FROM sessions WHERE expires_at < now()",
]
REASONS = [
    "quantity must be positive",
    "shipping address is missing a postal code",
    "currency EUR is not enabled for this merchant",
    "too many items",
]


def _hex(n: int) -> Fill:
    return lambda r: "".join(r.choice("0123456789abcdef") for _ in range(n))


def _digits(lo: int, hi: int) -> Fill:
    return lambda r: str(r.randint(lo, hi))


def _pick(values: list[str]) -> Fill:
    return lambda r: r.choice(values)


def _ip(r: random.Random) -> str:
    return f"10.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}"


def _uuid(r: random.Random) -> str:
    h = _hex(32)(r)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


def _pod(r: random.Random) -> str:
    suffix = "".join(r.choice(string.ascii_lowercase + string.digits) for _ in range(5))
    return f"{r.choice(DEPLOYS)}-{_hex(9)(r)}-{suffix}"


def _node(r: random.Random) -> str:
    return f"ip-10-0-{r.randint(0, 9)}-{r.randint(2, 250)}.ec2.internal"


def _iso(r: random.Random) -> str:
    return f"2026-11-{r.randint(10, 28)}T{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}.{r.randint(0, 999):03d}Z"


def _pg_time(r: random.Random) -> str:
    return f"2026-11-{r.randint(10, 28)} {r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}.{r.randint(0, 999):03d}"


def _clock(r: random.Random) -> str:
    return f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}"


def _clf(r: random.Random) -> str:
    return f"{r.randint(10, 28)}/Nov/2026:{_clock(r)} +0000"


def _path(r: random.Random) -> str:
    return f"{r.choice(ENDPOINTS)}/{r.randint(1000, 999999)}"


def _req(r: random.Random) -> str:
    return "req-" + "".join(r.choice(string.ascii_letters + string.digits) for _ in range(12))


def _cus(r: random.Random) -> str:
    return "cus_" + "".join(r.choice(string.ascii_letters + string.digits) for _ in range(14))


def _ms(r: random.Random) -> str:
    return str(r.choice([r.randint(100, 999), r.randint(1000, 30000)]))


def _secs(r: random.Random) -> str:
    return f"{r.randint(0, 59)}.{r.randint(0, 999):03d}s"


def _sku(r: random.Random) -> str:
    return f"SKU-{r.randint(10000, 99999)}"


def _b64(r: random.Random) -> str:
    return "".join(r.choice(string.ascii_letters + string.digits + "+/") for _ in range(43))


FILLS: dict[str, Fill] = {
    "ip": _ip,
    "port": _digits(1024, 65535),
    "ms": _ms,
    "secs": _secs,
    "n": _digits(1, 64),
    "big": _digits(10000, 99999999),
    "pid": _digits(100, 65000),
    "line": _digits(20, 900),
    "pct": lambda r: f"{r.uniform(0, 100):.1f}",
    "uuid": _uuid,
    "hex8": _hex(8),
    "hex12": _hex(12),
    "hex40": _hex(40),
    "user": _pick(USERS),
    "bucket": _pick(BUCKETS),
    "table": _pick(TABLES),
    "container": _pick(CONTAINERS),
    "ns": _pick(NAMESPACES),
    "queue": _pick(QUEUES),
    "client": _pick(CLIENTS),
    "unit": _pick(UNITS),
    "proc": _pick(PROCS),
    "az": _pick(AZS),
    "secret": _pick(SECRETS),
    "volume": _pick(VOLUMES),
    "image": _pick(IMAGES),
    "method": _pick(METHODS),
    "agent": _pick(AGENTS),
    "month": _pick(MONTHS),
    "day": _digits(1, 28),
    "status": _pick(["200", "201", "204", "301", "304", "404"]),
    "errstatus": _pick(["500", "502", "503", "504"]),
    "pod": _pod,
    "node": _node,
    "iso": _iso,
    "pgtime": _pg_time,
    "clock": _clock,
    "clf": _clf,
    "path": _path,
    "req": _req,
    "cus": _cus,
    "sku": _sku,
    "b64": _b64,
    "order": lambda r: f"ORD-{r.randint(100000, 999999)}",
    "email": lambda r: f"{r.choice(USERS)}@{r.choice(['example.com', 'mail.example.org'])}",
    "host": lambda r: f"{r.choice(['web', 'db', 'cache', 'worker'])}-{r.randint(1, 40)}",
    "key": lambda r: f"exports/{r.randint(2020, 2026)}/{r.randint(1, 12):02d}/report-{r.randint(1, 9999)}.csv",
    "tag": lambda r: f"v{r.randint(1, 3)}.{r.randint(0, 20)}.{r.randint(0, 9)}",
    "bytes": _digits(120, 250000),
    "epoch": _digits(1_790_000_000, 1_799_999_999),
    "partition": lambda r: f"orders-{r.randint(0, 11)}",
    "slot": lambda r: r.choice(["cdc_orders", "cdc_billing", "debezium_main"]),
    "statement": _pick(STATEMENTS),
    "reason": _pick(REASONS),
}


@dataclass(frozen=True)
class Template:
    """One kind of line: `pattern` with `{field}` placeholders (see FILLS), expanded `count` times."""

    id: str
    pattern: str
    count: int = 12


@dataclass(frozen=True)
class Family:
    name: str
    service: str
    templates: tuple[Template, ...]


T = Template

FAMILIES: tuple[Family, ...] = (
    Family(
        "java",
        "orders-api",
        (
            T(
                "npe",
                'java.lang.NullPointerException: Cannot invoke "com.acme.orders.Cart.getItems()" because "cart" is null\n'
                "\tat com.acme.orders.CheckoutService.total(CheckoutService.java:{line})\n"
                "\tat com.acme.orders.OrderController.create(OrderController.java:{line})",
            ),
            T("hikari", "HikariPool-1 - Connection is not available, request timed out after {ms}ms.", 20),
            T(
                "jdbc",
                "org.springframework.dao.DataAccessResourceFailureException: Unable to acquire JDBC Connection; "
                "nested exception is org.hibernate.exception.JDBCConnectionException: Unable to acquire JDBC Connection",
                6,
            ),
            T("sockettimeout", "Failed to process order {order}: java.net.SocketTimeoutException: Read timed out", 15),
            T("stock", "Order {order} rejected: insufficient stock for {sku} (requested {n}, available {n})", 15),
            T("grpc", "io.grpc.StatusRuntimeException: UNAVAILABLE: io exception calling inventory-service", 8),
            T("oom", "java.lang.OutOfMemoryError: Java heap space", 4),
            T(
                "kafka-expire",
                "Expiring {n} record(s) for {partition}:{ms} ms has passed since batch creation",
                10,
            ),
            T("created", "Order {order} created for customer {cus} with {n} item(s) in {ms} ms", 25),
            T(
                "s3-upload",
                "s3 upload of invoice {order} to bucket {bucket} failed: SlowDown: Please reduce your request rate",
                10,
            ),
            T(
                "http2-reset",
                "http2 stream {n} reset by peer while calling pricing-service: REFUSED_STREAM",
                8,
            ),
            T("login", "User {user} logged in from {ip}", 20),
            T("validation", "Validation failed for order {order}: {reason}", 16),
            T(
                "conn-refused",
                "java.net.ConnectException: Connection refused (Connection refused) calling ledger-service",
                8,
            ),
            T("conn-reset", "java.net.SocketException: Connection reset calling ledger-service", 8),
        ),
    ),
    Family(
        "python",
        "billing-worker",
        (
            T(
                "keyerror",
                "Traceback (most recent call last):\n"
                '  File "/app/billing/tasks.py", line {line}, in charge\n'
                "    resp = client.charge(payload['customer_id'])\n"
                "KeyError: 'customer_id'",
                8,
            ),
            T(
                "stripe-conn",
                "requests.exceptions.ConnectionError: HTTPSConnectionPool(host='api.stripe.com', port=443): "
                "Max retries exceeded with url: /v1/charges (Caused by NewConnectionError("
                "'<urllib3.connection.HTTPSConnection object at 0x7f{hex8}>: Failed to establish a new connection: "
                "[Errno 111] Connection refused'))",
                12,
            ),
            T("celery-retry", "Task billing.tasks.charge[{uuid}] retry: Retry in {n}s: TimeoutError()", 20),
            T(
                "pg-refused",
                'psycopg2.OperationalError: could not connect to server: Connection refused\n\tIs the server running on host "{host}" ({ip}) and accepting\n\tTCP/IP connections on port 5432?',
                10,
            ),
            T(
                "unique",
                "sqlalchemy.exc.IntegrityError: (psycopg2.errors.UniqueViolation) duplicate key value violates "
                'unique constraint "invoices_pkey"\nDETAIL:  Key (id)=({big}) already exists.',
                8,
            ),
            T(
                "redis",
                "redis.exceptions.ConnectionError: Error 111 connecting to {host}:6379. Connection refused.",
                12,
            ),
            T("sent", "Invoice {big} for customer {cus} sent to {email}", 25),
            T(
                "boto-denied",
                "botocore.exceptions.ClientError: An error occurred (AccessDenied) when calling the PutObject operation: Access Denied",
                6,
            ),
            T(
                "utf8",
                "utf8 decode error in webhook payload from {client}: invalid continuation byte at position {n}",
                8,
            ),
            T("charged", "Charged customer {cus} {n}.{n} EUR for invoice {big} in {ms}ms", 20),
        ),
    ),
    Family(
        "go",
        "inventory-svc",
        (
            T("dial-refused", "dial tcp {ip}:{port}: connect: connection refused", 15),
            T(
                "deadline",
                'Get "http://pricing-service:8080/prices/{big}": context deadline exceeded (Client.Timeout exceeded while awaiting headers)',
                15,
            ),
            T(
                "grpc-unavailable",
                'rpc error: code = Unavailable desc = connection error: desc = "transport: Error while dialing: dial tcp {ip}:{port}: i/o timeout"',
                12,
            ),
            T(
                "panic",
                "panic: runtime error: invalid memory address or nil pointer dereference\n"
                "[signal SIGSEGV: segmentation violation code=0x1 addr=0x{hex8} pc=0x{hex8}]\n\n"
                "goroutine {n} [running]:\nmain.(*Server).reserve(0xc000{hex8})",
                5,
            ),
            T("tls-eof", "http: TLS handshake error from {ip}:{port}: EOF", 15),
            T("s3-nokey", "s3: GetObject {bucket}/{key}: NoSuchKey: The specified key does not exist.", 10),
            T(
                "http2-preface",
                "http2: server: error reading preface from client {ip}:{port}: read tcp {ip}:8443->{ip}:{port}: i/o timeout",
                8,
            ),
            T("oauth2", 'oauth2: cannot fetch token: 401 Unauthorized\nResponse: {{"error":"invalid_client"}}', 8),
            T(
                "logfmt-sync",
                'level=error ts={iso} msg="failed to sync" key={ns}/{container} err="etcdserver: request timed out"',
                10,
            ),
            T("reserved", "reserved {n} units of {sku} for order {order} in {ms}ms", 25),
            T(
                "k8s-watch",
                "k8s.io/client-go/informers/factory.go:{line}: Failed to watch *v1.Pod: the server has asked for the client to provide credentials",
                6,
            ),
        ),
    ),
    Family(
        "nginx",
        "edge-nginx",
        (
            T("access", '{ip} - - [{clf}] "{method} {path} HTTP/1.1" {status} {bytes} "-" "{agent}"', 40),
            T(
                "upstream-timeout",
                '{pgtime} [error] {pid}#0: *{big} upstream timed out (110: Connection timed out) while reading response header from upstream, client: {ip}, server: shop.example.com, request: "{method} {path} HTTP/1.1", upstream: "http://{ip}:8080{path}", host: "shop.example.com"',
                15,
            ),
            T(
                "upstream-refused",
                '{pgtime} [error] {pid}#0: *{big} connect() failed (111: Connection refused) while connecting to upstream, client: {ip}, server: shop.example.com, request: "{method} {path} HTTP/1.1", upstream: "http://{ip}:8080{path}", host: "shop.example.com"',
                12,
            ),
            T(
                "no-live",
                '{pgtime} [error] {pid}#0: *{big} no live upstreams while connecting to upstream, client: {ip}, server: shop.example.com, request: "{method} {path} HTTP/1.1", upstream: "http://checkout{path}", host: "shop.example.com"',
                8,
            ),
            T("reload", "{pgtime} [notice] {pid}#0: signal process started", 4),
        ),
    ),
    Family(
        "envoy",
        "edge-envoy",
        (
            T(
                "access-503",
                '[{iso}] "{method} {path} HTTP/2" 503 UF upstream_reset_before_response_started{{connection_failure}} - "-" 0 91 {ms} - "{ip}" "{agent}" "{uuid}" "shop.example.com" "{ip}:8080"',
                20,
            ),
            T(
                "xds",
                "[{iso}][{n}][warning][config] [source/common/config/grpc_stream.h:{line}] StreamAggregatedResources gRPC config stream to xds-cluster closed: 14, upstream connect error or disconnect/reset before headers. reset reason: connection failure",
                8,
            ),
            T(
                "circuit",
                "[{iso}][{n}][debug][upstream] cluster checkout-service: circuit breaker overflow, {n} pending requests",
                10,
            ),
        ),
    ),
    Family(
        "postgres",
        "orders-db",
        (
            T(
                "slots",
                "{pgtime} UTC [{pid}] FATAL:  remaining connection slots are reserved for non-replication superuser connections",
                20,
            ),
            T(
                "deadlock",
                "{pgtime} UTC [{pid}] ERROR:  deadlock detected\nDETAIL:  Process {pid} waits for ShareLock on transaction {big}; blocked by process {pid}.",
                10,
            ),
            T(
                "checkpoint",
                "{pgtime} UTC [{pid}] LOG:  checkpoint complete: wrote {n} buffers ({pct}%); 0 WAL file(s) added, 0 removed, {n} recycled; write={secs}, sync={secs}, total={secs}",
                15,
            ),
            T("auth", '{pgtime} UTC [{pid}] FATAL:  password authentication failed for user "{user}"', 12),
            T("lock-timeout", "{pgtime} UTC [{pid}] ERROR:  canceling statement due to lock timeout", 10),
            T("serialize", "{pgtime} UTC [{pid}] ERROR:  could not serialize access due to concurrent update", 10),
            T("recovery", "{pgtime} UTC [{pid}] FATAL:  the database system is in recovery mode", 6),
            T(
                "slot-inactive",
                "{pgtime} UTC [{pid}] WARNING:  replication slot {slot} on e2e-orders-db is inactive",
                6,
            ),
            T(
                "vacuum",
                "{pgtime} UTC [{pid}] LOG:  automatic vacuum of table orders.public.{table}: index scans: {n}",
                15,
            ),
            T("slow", "{pgtime} UTC [{pid}] LOG:  duration: {ms}.{n} ms  statement: {statement}", 16),
        ),
    ),
    Family(
        "kubernetes",
        "k8s-events",
        (
            T("backoff", "Back-off restarting failed container {container} in pod {pod}_{ns}({uuid})", 20),
            T(
                "readiness",
                'Readiness probe failed: Get "http://{ip}:8080/ready": context deadline exceeded (Client.Timeout exceeded while awaiting headers)',
                20,
            ),
            T("liveness", "Liveness probe failed: HTTP probe failed with statuscode: {errstatus}", 15),
            T(
                "unschedulable",
                "0/{n} nodes are available: {n} Insufficient cpu, {n} node(s) had untolerated taint {{node-role.kubernetes.io/control-plane: }}. preemption: 0/{n} nodes are available: {n} No preemption victims found for incoming pod.",
                8,
            ),
            T(
                "pull",
                'Failed to pull image "registry.example.com/{image}:{tag}": rpc error: code = NotFound desc = failed to pull and unpack image "registry.example.com/{image}:{tag}": not found',
                8,
            ),
            T("oomkilled", "Container {container} in pod {pod} was OOMKilled (exit code 137)", 10),
            T("scheduled", "Successfully assigned {ns}/{pod} to {node}", 25),
            T("secret", 'MountVolume.SetUp failed for volume "{volume}" : secret "{secret}" not found', 8),
            T(
                "pulled",
                'Successfully pulled image "registry.example.com/{image}:{tag}" in {secs} ({secs} including waiting)',
                15,
            ),
        ),
    ),
    Family(
        "cloud",
        "cloud-sync",
        (
            T(
                "throttle",
                "An error occurred (ThrottlingException) when calling the DescribeInstances operation (reached max retries: 4): Rate exceeded",
                12,
            ),
            T(
                "ddb",
                "An error occurred (ProvisionedThroughputExceededException) when calling the PutItem operation: The level of configured provisioned throughput for the table was exceeded.",
                10,
            ),
            T("s3-slowdown", "upload to s3://{bucket}/{key} failed: SlowDown: Please reduce your request rate.", 12),
            T(
                "gcp-unavailable",
                "google.api_core.exceptions.ServiceUnavailable: 503 failed to connect to all addresses; last error: UNKNOWN: ipv4:{ip}:443: Failed to connect to remote host: Connection refused",
                10,
            ),
            T("gcp-scope", "googleapi: Error 403: Request had insufficient authentication scopes., forbidden", 6),
            T(
                "azure",
                "Azure.RequestFailedException: The specified container does not exist.\nRequestId:{uuid}\nTime:{iso}\nStatus: 404 (The specified container does not exist.)\nErrorCode: ContainerNotFound",
                8,
            ),
            T(
                "ec2-capacity",
                "ec2: InsufficientInstanceCapacity: We currently do not have sufficient m5.xlarge capacity in {az}",
                6,
            ),
            T("synced", "synced {n} objects from s3://{bucket} to gs://{bucket}-mirror in {secs}", 20),
        ),
    ),
    Family(
        "syslog",
        "host-syslog",
        (
            T(
                "oom-kill",
                "{month} {day} {clock} {host} kernel: [{n}.{big}] Out of memory: Killed process {pid} ({proc}) total-vm:{big}kB, anon-rss:{big}kB, file-rss:0kB, shmem-rss:0kB, UID:{n} pgtables:{n}kB oom_score_adj:0",
                10,
            ),
            T(
                "ssh-fail",
                "{month} {day} {clock} {host} sshd[{pid}]: Failed password for invalid user {user} from {ip} port {port} ssh2",
                20,
            ),
            T(
                "ssh-ok",
                "{month} {day} {clock} {host} sshd[{pid}]: Accepted publickey for {user} from {ip} port {port} ssh2: RSA SHA256:{b64}",
                15,
            ),
            T(
                "systemd",
                "{month} {day} {clock} {host} systemd[1]: {unit}.service: Main process exited, code=exited, status=1/FAILURE",
                12,
            ),
            T(
                "ext4",
                "{month} {day} {clock} {host} kernel: EXT4-fs error (device nvme0n1p1): ext4_find_entry:{line}: inode #{big}: comm {proc}: reading directory lblock 0",
                8,
            ),
            T("dhcp", "{month} {day} {clock} {host} dhclient[{pid}]: DHCPREQUEST for {ip} on eth0 to {ip} port 67", 12),
            T(
                "cron",
                "{month} {day} {clock} {host} CRON[{pid}]: ({user}) CMD (/usr/local/bin/backup.sh --bucket {bucket})",
                12,
            ),
        ),
    ),
    Family(
        "node",
        "notify-node",
        (
            T(
                "econnrefused",
                "Error: connect ECONNREFUSED {ip}:{port}\n    at TCPConnectWrap.afterConnect [as oncomplete] (node:net:{line}:{n})",
                15,
            ),
            T(
                "mongo",
                "MongoServerSelectionError: connection timed out after {ms}ms selecting a server for {table}",
                10,
            ),
            T("queue", "Job {uuid} from queue {queue} failed after {n} attempts: Error: socket hang up", 15),
            T("sent", "Notification {uuid} delivered to {email} via smtp in {ms}ms", 25),
        ),
    ),
    Family(
        "kafka-client",
        "events-relay",
        (
            T(
                "rdkafka",
                "%3|{epoch}.{n}|FAIL|rdkafka#producer-1| [thrd:kafka-{n}:9092/bootstrap]: kafka-{n}:9092/bootstrap: Connect to ipv4#{ip}:9092 failed: Connection refused (after {n}ms in state CONNECT)",
                12,
            ),
            T("lag", "consumer group relay lagging on {partition}: {big} messages behind", 15),
            T("rebalance", "Group relay rebalanced: assigned {n} partition(s) in generation {n}", 8),
            T("queue-depth", "{queue} queue depth {big} is above its threshold of 10000", 15),
        ),
    ),
)


@dataclass(frozen=True)
class Line:
    service: str
    label: str
    message: str


def corpus(seed: int = 13) -> list[Line]:
    """Every line of the corpus, shuffled as a real stream interleaves its sources."""
    rng = random.Random(seed)
    lines: list[Line] = []
    for family in FAMILIES:
        for tpl in family.templates:
            for _ in range(tpl.count):
                message = _expand(tpl.pattern, rng)
                lines.append(Line(family.service, f"{family.service}:{tpl.id}", message))
    rng.shuffle(lines)
    return lines


def _expand(pattern: str, rng: random.Random) -> str:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "{" and pattern.startswith("{{", i):
            out.append("{")
            i += 2
        elif ch == "}" and pattern.startswith("}}", i):
            out.append("}")
            i += 2
        elif ch == "{":
            end = pattern.index("}", i)
            out.append(FILLS[pattern[i + 1 : end]](rng))
            i = end + 1
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def grouping_accuracy(labels: list[str], groups: list[str]) -> float:
    """The share of lines whose predicted group holds exactly the lines of their true group.

    The usual measure for log template mining (a line counts only when its group is neither split
    nor mixed with another kind of line).
    """
    by_label: dict[str, set[int]] = {}
    by_group: dict[str, set[int]] = {}
    for i, (label, group) in enumerate(zip(labels, groups, strict=True)):
        by_label.setdefault(label, set()).add(i)
        by_group.setdefault(group, set()).add(i)
    correct = sum(len(members) for members in by_label.values() if by_group[groups[next(iter(members))]] == members)
    return correct / len(labels) if labels else 1.0
