"""A program that logs through the OpenTelemetry Python SDK and its OTLP/HTTP exporter, as an app would.

Run as its own process by the tests (`python -m support.otel_log_sender --endpoint URL ...`): the
standard `logging` module feeds the SDK's LoggingHandler, a batch processor hands the records to the
real `OTLPLogExporter` (protobuf over HTTP), and on exit the program prints one line per export
with its result (SUCCESS or FAILURE), so that a test sees what the exporter itself concluded.
The exporter also honours the standard OTEL_EXPORTER_OTLP_* variables (headers, compression).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler, ReadableLogRecord
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExportResult
from opentelemetry.sdk.resources import Resource


class ReportingExporter(OTLPLogExporter):
    """The real exporter, printing the outcome of each export."""

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        result = super().export(batch)
        print(f"export {len(batch)} {result.name}", flush=True)
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--endpoint", required=True, help="the full URL of the logs endpoint (…/v1/logs)")
    parser.add_argument("--service", required=True, help="service.name of the resource")
    parser.add_argument("--order-id", default="A-1042", help="an attribute that the logs carry")
    args = parser.parse_args()

    resource = Resource.create({"service.name": args.service, "deployment.environment": "test"})
    provider = LoggerProvider(resource=resource)
    provider.add_log_record_processor(BatchLogRecordProcessor(ReportingExporter(endpoint=args.endpoint, timeout=10)))
    log = logging.getLogger("checkout.payments")
    log.setLevel(logging.DEBUG)
    log.propagate = False
    log.addHandler(LoggingHandler(level=logging.DEBUG, logger_provider=provider))

    log.debug("cache lookup for order %s", args.order_id)
    log.info("order %s accepted", args.order_id)
    log.warning("payment provider slow: 2300ms for order %s", args.order_id, extra={"order.id": args.order_id})
    log.error("payment declined by provider for order %s", args.order_id, extra={"order.id": args.order_id})
    try:
        raise ConnectionError("connection refused: payments-db:5432")  # noqa: TRY301 - a real traceback
    except ConnectionError:
        log.exception("could not reach the payments database")
    log.critical("payments unavailable: circuit open")
    provider.shutdown()  # flushes the batch: one export


if __name__ == "__main__":
    main()
