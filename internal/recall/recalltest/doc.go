// Package recalltest holds the shared suites every recall.Store and
// recall.Queue implementation runs from its own tests, so the backends cannot
// drift apart: the embedded store and DynamoDB, the in-memory queue and Redis
// Streams must all give the answers the suites pin down. It imports the
// testing package and is meant for _test.go files only.
package recalltest
