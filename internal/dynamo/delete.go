package dynamo

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"recall/internal/recall"
)

// Delete implements recall.Store in three requests, without a transaction
// (which costs twice the write units and the test emulators lack):
//
//  1. GetItem the conversation (consistent) for the idempotency key it
//     records (idem_key), so the key is found without a Scan;
//  2. DeleteItem the key, only while it still names this conversation (an
//     expired key may have been taken by a later create);
//  3. DeleteItem the conversation, only if it exists, returning it.
//
// Key first, so a failure between the two leaves the conversation in
// place, still listed and still deletable, and no key that names a missing
// conversation: such a key is what a create retried with it would complete
// under the key's ID (see createWithKey), bringing the deleted conversation
// back. A retried delete finishes the job. The stuck index is a GSI of the
// item, so it goes with it.
func (s *Store) Delete(ctx context.Context, owner, id string) (*recall.Conversation, error) {
	key := s.key(ownerPK(owner), convSK(id))
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:                aws.String(s.table),
		Key:                      key,
		ConsistentRead:           aws.Bool(true),
		ProjectionExpression:     aws.String("#k"),
		ExpressionAttributeNames: map[string]string{"#k": attrIdemKey},
	})
	if err != nil {
		return nil, fmt.Errorf("dynamo: delete %s: read: %w", id, err)
	}
	if out.Item == nil {
		return nil, recall.Errorf(recall.ENOTFOUND, "No conversation with id %q.", id)
	}
	d := decoder{item: out.Item}
	if idemKey := d.str(attrIdemKey); idemKey != "" {
		if err := s.deleteKeyOf(ctx, owner, id, idemKey); err != nil {
			return nil, err
		}
	}
	del, err := s.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                aws.String(s.table),
		Key:                      key,
		ConditionExpression:      aws.String("attribute_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{"#pk": AttrPK},
		ReturnValues:             types.ReturnValueAllOld,
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		// A concurrent delete got there first.
		return nil, recall.Errorf(recall.ENOTFOUND, "No conversation with id %q.", id)
	}
	if err != nil {
		return nil, fmt.Errorf("dynamo: delete %s: %w", id, err)
	}
	c, err := decodeConversation(del.Attributes)
	if err != nil {
		return nil, fmt.Errorf("dynamo: delete %s: %w", id, err)
	}
	return c, nil
}

// deleteKeyOf deletes owner's idempotency key idemKey if it names
// conversation id; a key that is gone or names another is left alone.
func (s *Store) deleteKeyOf(ctx context.Context, owner, id, idemKey string) error {
	_, err := s.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                 aws.String(s.table),
		Key:                       s.key(ownerPK(owner), idemSK(idemKey)),
		ConditionExpression:       aws.String("#cid = :id"),
		ExpressionAttributeNames:  map[string]string{"#cid": attrConvID},
		ExpressionAttributeValues: map[string]types.AttributeValue{":id": str(id)},
	})
	var ccf *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &ccf) {
		return fmt.Errorf("dynamo: delete %s: idempotency key: %w", id, err)
	}
	return nil
}
