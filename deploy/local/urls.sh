#!/usr/bin/env bash
# Prints where everything answers, once `make up` is done.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cat <<TXT

  Incident Intelligence is up.
    REST API       http://localhost:5000/api   (OpenAPI: http://localhost:5000/api/openapi.json)
    Health         http://localhost:5000/health/detailed
    Metrics        http://localhost:5000/metrics
    Kafka          127.0.0.1:9092      MongoDB protocol  mongodb://127.0.0.1:27017
    Logs           $II_LOGS/        (make logs)
  Try:  curl -s -X POST localhost:5000/api/events -H 'Content-Type: application/json' \\
          -d '{"service":"payment-service","severity":4,"message":"Timeout after 5000ms calling db-primary"}'
  Stop: make down
TXT
