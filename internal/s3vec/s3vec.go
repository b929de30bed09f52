// Package s3vec keeps conversation vectors in Amazon S3 Vectors: one
// vector index in a vector bucket (both created by the template), queried
// by cosine distance with the owner as filterable metadata. It is storage
// only; what goes into a vector and how results combine with keyword
// matches is the hybrid package's business.
//
// S3 Vectors is pay-per-use (storage, PUT data, and data processed per
// query), so nothing runs while nobody searches. Writes are strongly
// consistent: a vector is queryable once PutVectors returns.
package s3vec

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3vectors"
	"github.com/aws/aws-sdk-go-v2/service/s3vectors/document"
	"github.com/aws/aws-sdk-go-v2/service/s3vectors/types"
	smithy "github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"recall/internal/recall"
)

// MetaOwner is the filterable metadata key holding the owner. The index
// must leave it filterable (the template declares no non-filterable keys).
const MetaOwner = "owner"

// MaxTopK is the most neighbours one QueryVectors returns.
const MaxTopK = 100

// Store is one S3 Vectors index. It is safe for concurrent use.
type Store struct {
	client        *s3vectors.Client
	bucket, index string
	region        string
}

// New returns a Store on index in vector bucket bucket.
func New(client *s3vectors.Client, bucket, index string) *Store {
	return &Store{client: client, bucket: bucket, index: index, region: client.Options().Region}
}

// ClientOptions adjusts NewClient; the zero value uses the SDK's defaults.
type ClientOptions struct {
	// BaseEndpoint sends requests to a VPC endpoint or a test fake.
	BaseEndpoint string
	// Credentials replaces the default credential chain.
	Credentials aws.CredentialsProvider
}

// NewClient loads the AWS configuration the standard way for region and
// returns an S3 Vectors client. It does not contact AWS.
func NewClient(ctx context.Context, region string, o ClientOptions) (*s3vectors.Client, error) {
	load := []func(*config.LoadOptions) error{config.WithRegion(region)}
	if o.Credentials != nil {
		load = append(load, config.WithCredentialsProvider(o.Credentials))
	}
	cfg, err := config.LoadDefaultConfig(ctx, load...)
	if err != nil {
		return nil, fmt.Errorf("s3vec: load AWS config: %w", err)
	}
	return s3vectors.NewFromConfig(cfg, func(co *s3vectors.Options) {
		if o.BaseEndpoint != "" {
			co.BaseEndpoint = aws.String(o.BaseEndpoint)
		}
	}), nil
}

// Put stores vector v under key with owner as metadata, replacing any
// vector already under key.
func (s *Store) Put(ctx context.Context, key, owner string, v []float32) error {
	_, err := s.client.PutVectors(ctx, &s3vectors.PutVectorsInput{
		VectorBucketName: aws.String(s.bucket),
		IndexName:        aws.String(s.index),
		Vectors: []types.PutInputVector{{
			Key:      aws.String(key),
			Data:     &types.VectorDataMemberFloat32{Value: v},
			Metadata: document.NewLazyDocument(map[string]any{MetaOwner: owner}),
		}},
	})
	if err != nil {
		return fmt.Errorf("s3vec: put %s: %w", key, s.classify(err, "s3vectors:PutVectors"))
	}
	return nil
}

// Delete removes the vectors under keys; a key with no vector is not an
// error.
func (s *Store) Delete(ctx context.Context, keys ...string) error {
	for len(keys) > 0 {
		n := min(len(keys), 500)
		_, err := s.client.DeleteVectors(ctx, &s3vectors.DeleteVectorsInput{
			VectorBucketName: aws.String(s.bucket),
			IndexName:        aws.String(s.index),
			Keys:             keys[:n],
		})
		if err != nil {
			return fmt.Errorf("s3vec: delete %d vector(s): %w", n, s.classify(err, "s3vectors:DeleteVectors"))
		}
		keys = keys[n:]
	}
	return nil
}

// Query returns up to topK (at most MaxTopK) of owner's vectors nearest v,
// as key → cosine similarity (1 − the index's cosine distance). The owner
// filter is part of the query, so another owner's vector is never a
// candidate.
func (s *Store) Query(ctx context.Context, owner string, v []float32, topK int) (map[string]float64, error) {
	topK = min(max(topK, 1), MaxTopK)
	out, err := s.client.QueryVectors(ctx, &s3vectors.QueryVectorsInput{
		VectorBucketName: aws.String(s.bucket),
		IndexName:        aws.String(s.index),
		QueryVector:      &types.VectorDataMemberFloat32{Value: v},
		TopK:             aws.Int32(int32(topK)),
		Filter:           document.NewLazyDocument(map[string]any{MetaOwner: map[string]any{"$eq": owner}}),
		ReturnDistance:   true,
	})
	if err != nil {
		// A metadata filter needs s3vectors:GetVectors as well.
		return nil, fmt.Errorf("s3vec: query: %w", s.classify(err, "s3vectors:QueryVectors and s3vectors:GetVectors"))
	}
	res := make(map[string]float64, len(out.Vectors))
	for _, n := range out.Vectors {
		if n.Key == nil || n.Distance == nil {
			continue
		}
		res[*n.Key] = 1 - float64(*n.Distance)
	}
	return res, nil
}

// Ping checks the index exists and may be read (GetIndex).
func (s *Store) Ping(ctx context.Context) error {
	_, err := s.client.GetIndex(ctx, &s3vectors.GetIndexInput{VectorBucketName: aws.String(s.bucket), IndexName: aws.String(s.index)})
	if err != nil {
		return fmt.Errorf("s3vec: ping: %w", s.classify(err, "s3vectors:GetIndex"))
	}
	return nil
}

// throttleRetryAfter is the least wait after S3 Vectors asks us to slow
// down: its write limits are per second.
const throttleRetryAfter = time.Second

// classify maps an S3 Vectors error to Recall's codes by its type, with a
// message saying what to do; action names the IAM permission the call
// needs.
func (s *Store) classify(err error, action string) *recall.Error {
	where := fmt.Sprintf("index %s in vector bucket %s (%s)", s.index, s.bucket, s.region)
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return recall.Wrap(err, recall.EUNAVAILABLE, "S3 Vectors did not answer in time")
	}
	var (
		throttled   *types.TooManyRequestsException
		unavailable *types.ServiceUnavailableException
		internal    *types.InternalServerException
		timeout     *types.RequestTimeoutException
		quota       *types.ServiceQuotaExceededException
		denied      *types.AccessDeniedException
		notFound    *types.NotFoundException
		invalid     *types.ValidationException
		conflict    *types.ConflictException
	)
	switch {
	case errors.As(err, &throttled):
		return &recall.Error{Code: recall.ETHROTTLED, Message: "S3 Vectors is throttling requests to " + where, Err: err, RetryAfter: throttleRetryAfter}
	case errors.As(err, &unavailable), errors.As(err, &internal), errors.As(err, &timeout), errors.As(err, &conflict):
		return recall.Wrap(err, recall.EUNAVAILABLE, "S3 Vectors is temporarily unavailable for "+where)
	case errors.As(err, &quota):
		return recall.Wrap(err, recall.EUNAVAILABLE, "the account's S3 Vectors quota is used up for "+where+" (Service Quotas shows the limits)")
	case errors.As(err, &denied):
		return recall.Wrap(err, recall.EPERMISSION, fmt.Sprintf("S3 Vectors denied access to %s: allow %s on the index ARN for this role", where, action))
	case errors.As(err, &notFound):
		return recall.Wrap(err, recall.EINVALID, fmt.Sprintf("S3 Vectors has no %s: check the vector bucket and index names (the template creates both)", where))
	case errors.As(err, &invalid):
		return recall.Wrap(err, recall.EINVALID, "S3 Vectors refused the request: "+invalid.ErrorMessage())
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		code := apiErr.ErrorCode()
		switch code {
		case "UnrecognizedClientException", "InvalidSignatureException", "SignatureDoesNotMatch", "ExpiredTokenException", "InvalidClientTokenId", "MissingAuthenticationTokenException":
			return recall.Wrap(err, recall.EPERMISSION, fmt.Sprintf("AWS rejected the credentials (%s): check AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or refresh the session", code))
		}
		var respErr *smithyhttp.ResponseError
		if errors.As(err, &respErr) && respErr.HTTPStatusCode() == http.StatusForbidden {
			return recall.Wrap(err, recall.EPERMISSION, fmt.Sprintf("S3 Vectors refused access (%s) to %s: check %s and any KMS key the bucket uses", code, where, action))
		}
		return recall.Wrap(err, recall.EUNAVAILABLE, fmt.Sprintf("S3 Vectors failed (%s) for %s", code, where))
	}
	return recall.Wrap(err, recall.EUNAVAILABLE, "could not reach S3 Vectors in "+s.region)
}
