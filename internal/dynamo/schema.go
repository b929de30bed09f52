package dynamo

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
)

// Attribute and index names. The table definition, the item codec, the
// LocalStack init script and the SAM template all use these; the tests check
// the others against TableDefinition.
const (
	// AttrPK is the partition key: "OWNER#<owner>" for every item, so one
	// owner's conversations and idempotency keys share a partition and a
	// listing is one Query.
	AttrPK = "pk"
	// AttrSK is the sort key: "CONV#<id>" for a conversation (IDs are ULIDs,
	// so the sort order is creation order) and "IDEM#<key>" for an
	// idempotency key.
	AttrSK = "sk"
	// AttrStuckPK and AttrStuckSK key the sparse StuckIndex. They exist only
	// while a conversation is pending or processing, so the index holds
	// exactly the work the sweeper watches and nothing else.
	AttrStuckPK = "stuck_pk"
	AttrStuckSK = "stuck_sk"
	// TTLAttribute is the epoch-seconds expiry DynamoDB's TTL deletes
	// idempotency keys by. Deletion lags expiry by up to days, so the store
	// also treats an expired key as absent in its conditions.
	TTLAttribute = "expires_at"
	// StuckIndex is the sparse global secondary index Stuck queries.
	StuckIndex = "stuck"
	// StuckShards is how many partitions the stuck index is spread over
	// (stuck_pk "STUCK#0" … "STUCK#3", chosen by a hash of the ID), so a
	// burst of new conversations does not all land on one hot partition.
	// Stuck queries each shard and merges the results.
	StuckShards = 4
)

// stuckProjection is what the stuck index copies besides the keys: what the
// sweeper needs to build a job, and not the content, which would double the
// cost of writing a large conversation.
var stuckProjection = []string{"id", "owner", "run", "priority", "status", "attempts", "updated_at"}

// TableDefinition returns the CreateTableInput for a Recall table named
// name: the one description of the schema that CreateTable uses and that the
// SAM template and the LocalStack init script are tested against.
// Idempotency keys expire through TTL on TTLAttribute, which is enabled
// separately (UpdateTimeToLive) because CreateTable cannot set it.
func TableDefinition(name string) *dynamodb.CreateTableInput {
	str := types.ScalarAttributeTypeS
	return &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(AttrPK), AttributeType: str},
			{AttributeName: aws.String(AttrSK), AttributeType: str},
			{AttributeName: aws.String(AttrStuckPK), AttributeType: str},
			{AttributeName: aws.String(AttrStuckSK), AttributeType: str},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(AttrPK), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(AttrSK), KeyType: types.KeyTypeRange},
		},
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{
			IndexName: aws.String(StuckIndex),
			KeySchema: []types.KeySchemaElement{
				{AttributeName: aws.String(AttrStuckPK), KeyType: types.KeyTypeHash},
				{AttributeName: aws.String(AttrStuckSK), KeyType: types.KeyTypeRange},
			},
			Projection: &types.Projection{
				ProjectionType:   types.ProjectionTypeInclude,
				NonKeyAttributes: append([]string(nil), stuckProjection...),
			},
		}},
	}
}

// CreateTable creates the store's table as TableDefinition describes it and
// enables TTL, unless the table already exists; it waits until the table is
// active. It is meant for local stacks and first runs (RECALL_CREATE_TABLE=1);
// in AWS the SAM template owns the table.
func (s *Store) CreateTable(ctx context.Context) error {
	_, err := s.client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(s.table)})
	var missing *types.ResourceNotFoundException
	switch {
	case err == nil:
		return nil
	case !errors.As(err, &missing):
		return fmt.Errorf("dynamo: describe table %s: %w", s.table, s.classify(err))
	}
	_, err = s.client.CreateTable(ctx, TableDefinition(s.table))
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return fmt.Errorf("dynamo: create table %s: %w", s.table, s.classify(err))
	}
	w := dynamodb.NewTableExistsWaiter(s.client, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 100*time.Millisecond, 2*time.Second
	})
	if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(s.table)}, 5*time.Minute); err != nil {
		return fmt.Errorf("dynamo: wait for table %s: %w", s.table, s.classify(err))
	}
	_, err = s.client.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName: aws.String(s.table),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{
			AttributeName: aws.String(TTLAttribute), Enabled: aws.Bool(true),
		},
	})
	var api smithy.APIError
	if err != nil && errors.As(err, &api) && api.ErrorCode() == "UnknownOperationException" {
		// dynalite has no TTL. The store never relies on TTL for
		// correctness (expired keys are checked in conditions), only to
		// reclaim space, so carry on.
		s.log.WarnContext(ctx, "this DynamoDB endpoint cannot enable TTL; expired idempotency keys will not be deleted", "table", s.table)
		return nil
	}
	if err != nil {
		return fmt.Errorf("dynamo: enable TTL on %s: %w", s.table, s.classify(err))
	}
	return nil
}

// Key formats.
const (
	ownerPrefix = "OWNER#"
	convPrefix  = "CONV#"
	idemPrefix  = "IDEM#"
	stuckPrefix = "STUCK#"
)

func ownerPK(owner string) string { return ownerPrefix + owner }
func convSK(id string) string     { return convPrefix + id }
func idemSK(key string) string    { return idemPrefix + key }

// stuckShard picks the stuck index partition of conversation id.
func stuckShard(id string) string {
	h := fnv.New32a()
	h.Write([]byte(id))
	return stuckPrefix + strconv.Itoa(int(h.Sum32()%StuckShards))
}

// sortTime formats t with a fixed width, so string order is time order in
// sort keys.
const sortTimeLayout = "2006-01-02T15:04:05.000000000Z"

func sortTime(t time.Time) string { return t.UTC().Format(sortTimeLayout) }

// stuckSK is the stuck index sort key: time first, then ID to break ties.
func stuckSK(updated time.Time, id string) string { return sortTime(updated) + "#" + id }
