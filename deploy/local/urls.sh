#!/usr/bin/env bash
# Prints where everything answers, once `make up` is done (II_PORT_OFFSET shifts the service ports,
# as it does for services.sh).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
OFFSET="${II_PORT_OFFSET:-0}"
API="http://localhost:$((5000 + OFFSET))"
cat <<TXT

  Incident Intelligence is up.
    Dashboard      http://localhost:$((3000 + OFFSET))
    REST API       $API/api   (OpenAPI: $API/api/openapi.json)
    Health         $API/health/detailed
    Metrics        $API/metrics
    Kafka          127.0.0.1:${KAFKA_PORT:-9092}      MongoDB protocol  mongodb://127.0.0.1:${MONGO_PORT:-27017}
    Logs           $II_LOGS/        (make logs)
  Try:  curl -s -X POST $API/api/events -H 'Content-Type: application/json' \\
          -d '{"service":"payment-service","severity":4,"message":"Timeout after 5000ms calling db-primary"}'
  Stop: make down
TXT
