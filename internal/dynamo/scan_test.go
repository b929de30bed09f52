package dynamo_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"recall/internal/dynamo"
	"recall/internal/recall"
	"recall/internal/recall/recalltest"
	"recall/internal/testenv"
)

func TestScanner(t *testing.T) {
	client := testenv.DynamoClient(t, testenv.StartDynalite(t))
	recalltest.Scanner(t, func(t *testing.T) recall.Store { return newStore(t, client) })
}

// TestScanSkipsOtherItems puts an idempotency key and a probe's leftovers
// next to the conversations: a scan returns conversations only.
func TestScanSkipsOtherItems(t *testing.T) {
	client := testenv.DynamoClient(t, testenv.StartDynalite(t))
	s := newStore(t, client)
	ctx := t.Context()
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	c := recalltest.NewConversation("alice", base)
	if _, _, err := s.Create(ctx, c, &recall.Idempotency{Key: "k1", Fingerprint: "fp", Expires: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.Table()), Item: map[string]types.AttributeValue{
		dynamo.AttrPK: &types.AttributeValueMemberS{Value: "PROBE#left-over"}, dynamo.AttrSK: &types.AttributeValueMemberS{Value: "PROBE"},
	}}); err != nil {
		t.Fatal(err)
	}
	got := recalltest.ScanAll(t, s, recall.ScanFilter{}, "", 1)
	if len(got) != 1 || got[0].ID != c.ID {
		t.Fatalf("Scan = %v, want only %s", got, c.ID)
	}
	if got[0].Content != "" {
		t.Errorf("Scan read the content; it should project it away")
	}
}

func TestProbe(t *testing.T) {
	client := testenv.DynamoClient(t, testenv.StartDynalite(t))
	s := newStore(t, client)
	ctx := t.Context()
	if err := s.Probe(ctx); err != nil {
		t.Fatalf("Probe: %v", err)
	}
	out, err := client.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(s.Table())})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Items) != 0 {
		t.Fatalf("the probe left %d items behind: %v", len(out.Items), out.Items)
	}
	missing := dynamo.New(client, "no-such-table", dynamo.Options{})
	if err := missing.Probe(ctx); err == nil {
		t.Fatal("Probe of a missing table succeeded")
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Probe(cancelled); err == nil {
		t.Fatal("Probe with a cancelled context succeeded")
	}
}
