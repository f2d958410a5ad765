// Logs through the OpenTelemetry JavaScript SDK and its OTLP/HTTP exporter, which sends OTLP/JSON,
// as a Node.js service would. Run by the gateway's tests as its own process:
//   node send-logs.mjs <logs endpoint URL> <service.name>
// On exit it prints one line per export with its result (SUCCESS or FAILURE).
import { context, trace, TraceFlags } from '@opentelemetry/api';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchLogRecordProcessor, LoggerProvider } from '@opentelemetry/sdk-logs';

const [endpoint, service] = process.argv.slice(2);
if (!endpoint || !service) {
  console.error('usage: node send-logs.mjs <logs endpoint URL> <service.name>');
  process.exit(2);
}

class ReportingExporter extends OTLPLogExporter {
  export(records, done) {
    super.export(records, (result) => {
      console.log(`export ${records.length} ${result.code === 0 ? 'SUCCESS' : 'FAILURE'}`);
      done(result);
    });
  }
}

const provider = new LoggerProvider({
  resource: resourceFromAttributes({ 'service.name': service, 'deployment.environment': 'test' }),
  processors: [new BatchLogRecordProcessor({ exporter: new ReportingExporter({ url: endpoint }) })],
});
const logger = provider.getLogger('inventory.http', '2.1.0');

// A request's span: its trace and span ids travel with the records logged inside it.
const span = { traceId: '5b8efff798038103d269b633813fc60c', spanId: 'eee19b7ec3c1b174', traceFlags: TraceFlags.SAMPLED };
const inSpan = trace.setSpanContext(context.active(), span);

logger.emit({ severityNumber: 9, severityText: 'INFO', body: 'GET /items/42 200' });
logger.emit({
  severityNumber: 13,
  severityText: 'WARN',
  body: 'slow query: 2300ms on inventory-db',
  attributes: { 'db.system': 'postgresql', 'retry.count': 2, 'sql.tables': ['items', 'stock'] },
  context: inSpan,
});
logger.emit({
  severityNumber: 17,
  severityText: 'ERROR',
  body: 'Timeout after 5000ms calling inventory-db:5432',
  attributes: { 'exception.type': 'TimeoutError', 'exception.message': 'query timed out' },
  context: inSpan,
});
logger.emit({ severityNumber: 21, severityText: 'FATAL', body: { event: 'shutdown', reason: 'pool exhausted' } });
await provider.shutdown();
