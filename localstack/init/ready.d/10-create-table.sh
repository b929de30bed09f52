#!/bin/bash
# Creates Recall's DynamoDB table in LocalStack once it is ready, and turns
# on TTL for idempotency keys. The schema must be exactly
# dynamo.TableDefinition (internal/dynamo/schema.go); the dynamo package's
# tests parse the JSON below and fail if the two drift apart.
set -euo pipefail

TABLE="${DYNAMODB_TABLE:-recall}"

if awslocal dynamodb describe-table --table-name "$TABLE" >/dev/null 2>&1; then
	echo "table $TABLE exists"
	exit 0
fi

awslocal dynamodb create-table \
	--table-name "$TABLE" \
	--billing-mode PAY_PER_REQUEST \
	--attribute-definitions "$(cat <<'JSON'
[
  {"AttributeName": "pk", "AttributeType": "S"},
  {"AttributeName": "sk", "AttributeType": "S"},
  {"AttributeName": "stuck_pk", "AttributeType": "S"},
  {"AttributeName": "stuck_sk", "AttributeType": "S"}
]
JSON
)" \
	--key-schema "$(cat <<'JSON'
[
  {"AttributeName": "pk", "KeyType": "HASH"},
  {"AttributeName": "sk", "KeyType": "RANGE"}
]
JSON
)" \
	--global-secondary-indexes "$(cat <<'JSON'
[
  {
    "IndexName": "stuck",
    "KeySchema": [
      {"AttributeName": "stuck_pk", "KeyType": "HASH"},
      {"AttributeName": "stuck_sk", "KeyType": "RANGE"}
    ],
    "Projection": {
      "ProjectionType": "INCLUDE",
      "NonKeyAttributes": ["id", "owner", "run", "priority", "status", "attempts", "updated_at"]
    }
  }
]
JSON
)"

awslocal dynamodb wait table-exists --table-name "$TABLE"

awslocal dynamodb update-time-to-live \
	--table-name "$TABLE" \
	--time-to-live-specification "$(cat <<'JSON'
{"Enabled": true, "AttributeName": "expires_at"}
JSON
)"

echo "created table $TABLE"
