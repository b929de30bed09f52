// Package deploy holds the deployment proofs: tests that parse template.yaml
// and infra/*.yaml with goformation and check them against the code (the
// routes httpapi serves, the table dynamo defines, the variables config
// reads, the DynamoDB calls the store makes), evaluate their Rules and
// Conditions for given regions and parameters, run the AWS SAM translator
// on template.yaml (python3 with aws-sam-translator; the tests fail without
// it) to check what CloudFormation will receive, build every function the way
// `sam build` does, and run the function binaries under the AWS Lambda
// Runtime Interface Emulator with the sample events in events/. It has no
// code of its own; `go test ./internal/deploy` is the proof, and
// `go test -bench . ./internal/deploy` measures cold starts.
package deploy
