package dynamo

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"recall/internal/recall"
)

// Keywords is the keyword side of search on AWS, in the store's own table:
// an index from (owner, term) to conversation IDs, so a name or an ID is
// found exactly where a vector search only finds what is near in meaning.
// It has the shape the hybrid index consumes (Set, Remove, Match) and is
// satisfied implicitly.
//
// Items, beside the store's own (their partition keys never meet):
//
//	item        pk            sk              other
//	term        KW#<owner>    <term>#<id>     (none)
//	manifest    KW#<owner>    DOC#<id>        terms: the terms indexed for id
//
//	Match    Query pk, begins_with(sk, "<term>#") (or the prefix), newest ID
//	         first, projecting sk; no Scan
//	Set      GetItem the manifest; if terms are added, PutItem the manifest
//	         with old ∪ new; BatchWriteItem the added term items and deletes
//	         of the dropped ones; PutItem the manifest with the new terms
//	Remove   GetItem the manifest; BatchWriteItem deletes of its term items
//	         and of the manifest
//
// The manifest is written as the union before any term item is added, so
// it always names every term item that may exist: a Set or Remove that
// fails halfway leaves nothing that a retried Set or a Remove does not
// delete. Match skips manifests, and Set refuses the one term whose item
// would be a manifest ("DOC").
//
// One owner's items share a partition. DynamoDB splits a busy item
// collection by sort key (the table has no local secondary index), and
// writes it throttles come back as unprocessed items, which are retried
// with backoff.
type Keywords struct {
	client *dynamodb.Client
	table  string
	store  *Store // for classify
	sleep  func(context.Context, time.Duration) error
}

// Keywords returns the keyword index kept in s's table.
func (s *Store) Keywords() *Keywords {
	return &Keywords{client: s.client, table: s.table, store: s, sleep: recall.Sleep}
}

// Key formats and limits of keyword items.
const (
	keywordPrefix  = "KW#"
	manifestPrefix = "DOC#"
	attrTerms      = "terms"
	// MaxTermBytes bounds a term: longer "words" (a hash, a base64 blob)
	// are left out of the index rather than failing it, since a sort key
	// holds at most 1,024 bytes and nobody types such a word to search.
	MaxTermBytes = 256
	// batchSize is the most requests one BatchWriteItem takes.
	batchSize = 25
	// batchAttempts bounds the BatchWriteItem calls spent on one batch
	// while DynamoDB returns some of it unprocessed.
	batchAttempts = 8
	batchBackoff  = 50 * time.Millisecond
	batchMaxWait  = 2 * time.Second
)

func keywordPK(owner string) string { return keywordPrefix + owner }
func termSK(term, id string) string { return term + "#" + id }
func manifestSK(id string) string   { return manifestPrefix + id }
func (k *Keywords) key(owner, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{AttrPK: str(keywordPK(owner)), AttrSK: str(sk)}
}

// Set replaces the terms indexed for conversation id of owner. Empty terms
// and terms over MaxTermBytes are skipped; a term holding '#' or equal to
// "DOC" (its item would be the manifest), or an id holding '#', is
// EINVALID.
func (k *Keywords) Set(ctx context.Context, owner, id string, terms []string) error {
	want, err := cleanTerms(id, terms)
	if err != nil {
		return err
	}
	had, err := k.manifest(ctx, owner, id)
	if err != nil {
		return fmt.Errorf("dynamo: keywords %s: %w", id, err)
	}
	added, dropped := diff(had, want)
	if len(added) > 0 {
		if err := k.putManifest(ctx, owner, id, union(had, added)); err != nil {
			return fmt.Errorf("dynamo: keywords %s: %w", id, err)
		}
	}
	var reqs []types.WriteRequest
	for _, t := range added {
		reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: k.key(owner, termSK(t, id))}})
	}
	for _, t := range dropped {
		reqs = append(reqs, types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: k.key(owner, termSK(t, id))}})
	}
	if err := k.batchWrite(ctx, reqs); err != nil {
		return fmt.Errorf("dynamo: keywords %s: %w", id, err)
	}
	if len(added) > 0 || len(dropped) > 0 || had == nil {
		if err := k.putManifest(ctx, owner, id, want); err != nil {
			return fmt.Errorf("dynamo: keywords %s: %w", id, err)
		}
	}
	return nil
}

// cleanTerms checks id and terms and returns the terms to index, deduplicated.
func cleanTerms(id string, terms []string) ([]string, error) {
	if id == "" || strings.Contains(id, "#") {
		return nil, recall.Errorf(recall.EINVALID, "dynamo: keywords: conversation id %q is empty or holds '#'", id)
	}
	out := make([]string, 0, len(terms))
	seen := make(map[string]bool, len(terms))
	for _, t := range terms {
		switch {
		case t == "" || len(t) > MaxTermBytes || seen[t]:
			continue
		case strings.Contains(t, "#") || t+"#" == manifestPrefix:
			return nil, recall.Errorf(recall.EINVALID, "dynamo: keywords %s: term %q holds '#' or is the manifest's prefix", id, t)
		}
		seen[t] = true
		out = append(out, t)
	}
	return out, nil
}

// diff returns the terms of want not in had, and of had not in want.
func diff(had, want []string) (added, dropped []string) {
	for _, t := range want {
		if !slices.Contains(had, t) {
			added = append(added, t)
		}
	}
	for _, t := range had {
		if !slices.Contains(want, t) {
			dropped = append(dropped, t)
		}
	}
	return added, dropped
}

func union(had, added []string) []string { return append(slices.Clone(had), added...) }

// manifest reads the terms indexed for id; nil when none were.
func (k *Keywords) manifest(ctx context.Context, owner, id string) ([]string, error) {
	out, err := k.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:                aws.String(k.table),
		Key:                      k.key(owner, manifestSK(id)),
		ConsistentRead:           aws.Bool(true),
		ProjectionExpression:     aws.String("#t"),
		ExpressionAttributeNames: map[string]string{"#t": attrTerms},
	})
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", k.store.classify(err))
	}
	if out.Item == nil {
		return nil, nil
	}
	d := decoder{item: out.Item}
	terms := d.strList(attrTerms)
	if d.err != nil {
		return nil, fmt.Errorf("read manifest: %w", d.err)
	}
	if terms == nil {
		terms = []string{} // indexed with no terms: not nil, so Set knows
	}
	return terms, nil
}

func (k *Keywords) putManifest(ctx context.Context, owner, id string, terms []string) error {
	item := k.key(owner, manifestSK(id))
	item[attrTerms] = strList(terms)
	_, err := k.client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(k.table), Item: item})
	if err != nil {
		return fmt.Errorf("write manifest: %w", k.store.classify(err))
	}
	return nil
}

// Remove forgets conversation id of owner: its term items, then its
// manifest (last, so a failure halfway leaves the manifest to retry from).
// Forgetting one never indexed succeeds.
func (k *Keywords) Remove(ctx context.Context, owner, id string) error {
	had, err := k.manifest(ctx, owner, id)
	if err != nil || had == nil {
		if err != nil {
			return fmt.Errorf("dynamo: keywords remove %s: %w", id, err)
		}
		return nil
	}
	reqs := make([]types.WriteRequest, 0, len(had)+1)
	for _, t := range had {
		reqs = append(reqs, types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: k.key(owner, termSK(t, id))}})
	}
	if err := k.batchWrite(ctx, reqs); err != nil {
		return fmt.Errorf("dynamo: keywords remove %s: %w", id, err)
	}
	_, err = k.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(k.table), Key: k.key(owner, manifestSK(id))})
	if err != nil {
		return fmt.Errorf("dynamo: keywords remove %s: manifest: %w", id, k.store.classify(err))
	}
	return nil
}

// batchWrite sends reqs through the store's batched writes, waiting with
// k.sleep between resends.
func (k *Keywords) batchWrite(ctx context.Context, reqs []types.WriteRequest) error {
	return k.store.writeBatches(ctx, reqs, k.sleep)
}

// writeBatches sends reqs in batches of batchSize, sending again what
// DynamoDB returns unprocessed (it does so when throttled) with backoff
// (sleep waits), up to batchAttempts calls per batch; then it is
// ETHROTTLED. The keyword index and the item rows both write through it.
func (s *Store) writeBatches(ctx context.Context, reqs []types.WriteRequest, sleep func(context.Context, time.Duration) error) error {
	for len(reqs) > 0 {
		n := min(len(reqs), batchSize)
		pending := reqs[:n]
		reqs = reqs[n:]
		wait := batchBackoff
		for attempt := 1; len(pending) > 0; attempt++ {
			if attempt > batchAttempts {
				return recall.Errorf(recall.ETHROTTLED, "DynamoDB left %d write(s) unprocessed after %d tries: table %s is throttled", len(pending), batchAttempts, s.table)
			}
			if attempt > 1 {
				if err := sleep(ctx, wait); err != nil {
					return err
				}
				wait = min(2*wait, batchMaxWait)
			}
			out, err := s.client.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{
				RequestItems: map[string][]types.WriteRequest{s.table: pending},
			})
			if err != nil {
				return fmt.Errorf("batch write: %w", s.classify(err))
			}
			pending = out.UnprocessedItems[s.table]
		}
	}
	return nil
}

// Match returns up to limit IDs of owner's conversations holding term, or,
// with prefix, a term starting with it; newest first. It is one Query of
// the owner's keyword partition (paged when a prefix spans many terms), not
// a Scan. An empty term or prefix is EINVALID: it would match everything.
func (k *Keywords) Match(ctx context.Context, owner, term string, prefix bool, limit int) ([]string, error) {
	if term == "" {
		return nil, recall.Errorf(recall.EINVALID, "dynamo: keywords: empty term")
	}
	if limit <= 0 {
		return nil, nil
	}
	begins := term
	if !prefix {
		begins = term + "#"
	}
	in := &dynamodb.QueryInput{
		TableName:                aws.String(k.table),
		KeyConditionExpression:   aws.String("#pk = :pk AND begins_with(#sk, :b)"),
		ExpressionAttributeNames: map[string]string{"#pk": AttrPK, "#sk": AttrSK},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": str(keywordPK(owner)), ":b": str(begins),
		},
		ProjectionExpression: aws.String("#sk"),
		ScanIndexForward:     aws.Bool(false),
	}
	seen := map[string]bool{}
	var ids []string
	p := dynamodb.NewQueryPaginator(k.client, in)
	for p.HasMorePages() && len(ids) < limit {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("dynamo: keywords match: %w", k.store.classify(err))
		}
		for _, it := range out.Items {
			sk, _ := it[AttrSK].(*types.AttributeValueMemberS)
			if sk == nil || strings.HasPrefix(sk.Value, manifestPrefix) {
				continue
			}
			id := sk.Value[strings.LastIndexByte(sk.Value, '#')+1:]
			if !seen[id] && len(ids) < limit {
				seen[id] = true
				ids = append(ids, id)
			}
		}
	}
	return ids, nil
}
