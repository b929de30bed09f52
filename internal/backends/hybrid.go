package backends

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/s3vectors"
	"github.com/redis/go-redis/v9"

	"recall/internal/bedrock"
	"recall/internal/dynamo"
	"recall/internal/hybrid"
	"recall/internal/recall"
	"recall/internal/redisq"
	"recall/internal/s3vec"
)

// What the backends provide to search on AWS, checked where they meet:
// none of these packages knows the others.
var (
	_ hybrid.Embedder = (*bedrock.Embedder)(nil)
	_ hybrid.Vectors  = (*s3vec.Store)(nil)
	_ hybrid.Keywords = (*dynamo.Keywords)(nil)
	_ hybrid.Loader   = (*dynamo.Store)(nil)
)

// openHybrid opens search on AWS when RECALL_VECTOR_BUCKET selects it:
// Titan Text Embeddings V2 through Bedrock, the S3 Vectors index, and the
// keyword items and conversations in the DynamoDB store b opened. It
// returns (nil, nil) when search on AWS is not configured. It contacts
// nothing: an unreachable index shows in health, not as a failure to start.
func (b *Set) openHybrid(ctx context.Context) (recall.Index, error) {
	if b.Config.Search.VectorBucket == "" {
		return nil, nil
	}
	// Both clients load the AWS configuration the standard way, so
	// AWS_ENDPOINT_URL_BEDROCK_RUNTIME and AWS_ENDPOINT_URL_S3VECTORS
	// point them at a local stack.
	embed, err := bedrock.NewClient(ctx, b.Config.Region)
	if err != nil {
		return nil, fmt.Errorf("backends: search: %w", err)
	}
	vectors, err := s3vec.NewClient(ctx, b.Config.Region, s3vec.ClientOptions{})
	if err != nil {
		return nil, fmt.Errorf("backends: search: %w", err)
	}
	idx, err := b.newHybrid(embed, vectors)
	if err != nil {
		return nil, err // not a nil *hybrid.Index in a non-nil recall.Index
	}
	return idx, nil
}

// newHybrid builds search on AWS over b's store with the given clients.
func (b *Set) newHybrid(embed *bedrockruntime.Client, vectors *s3vectors.Client) (*hybrid.Index, error) {
	s := b.Config.Search
	st, ok := b.Store.(*dynamo.Store)
	if !ok {
		return nil, recall.Errorf(recall.EINVALID, "RECALL_VECTOR_BUCKET is set but the store is not DynamoDB: search on AWS keeps its keywords in the DynamoDB table (set DYNAMODB_TABLE)")
	}
	e := bedrock.NewEmbedder(embed, bedrock.EmbedderOptions{ModelID: s.EmbedModel, Region: b.Config.Region})
	v := s3vec.New(vectors, s.VectorBucket, s.VectorIndex)
	return hybrid.New(e, v, st.Keywords(), st, hybrid.Options{Usage: embedUsage(b.Redis, s.EmbedModel, b.Log)}), nil
}

// usageTimeout bounds recording one embedding's cost: the count is worth
// less than the search or the indexing that waits for it.
const usageTimeout = 500 * time.Millisecond

// embedUsage adds each embedding call (one per indexed conversation, one
// per search not answered from the query cache) to the shared usage totals
// in Redis under the embedding model's ID, beside the analyzer's, so
// `recall usage` shows and prices both. Without Redis there are no shared
// totals; hybrid.Index.Tokens still counts this process's spend. A failure
// is logged, never returned: losing a count must not fail a search.
func embedUsage(rdb redis.UniversalClient, model string, log *slog.Logger) func(hybrid.Usage) {
	if rdb == nil {
		return nil
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	totals := redisq.NewUsage(rdb, "")
	return func(u hybrid.Usage) {
		ctx, cancel := context.WithTimeout(context.Background(), usageTimeout)
		defer cancel()
		if err := totals.Add(ctx, redisq.ModelUsage{Model: model, Calls: 1, InputTokens: int64(u.Tokens)}); err != nil {
			log.WarnContext(ctx, "embedding usage not recorded", "model", model, "error", err.Error())
		}
	}
}
