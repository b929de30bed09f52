package bedrock

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	smithy "github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"recall/internal/recall"
)

// The embedding model and its shape.
const (
	// EmbedModelID is Amazon Titan Text Embeddings V2.
	EmbedModelID = "amazon.titan-embed-text-v2:0"
	// DefaultEmbedDimensions is the vector size Recall stores. Titan V2
	// offers 256, 512 and 1024; Amazon measured 512 at about 99% of 1024's
	// retrieval accuracy and 256 at about 97%. The price per embedding is
	// per input token whatever the size, but S3 Vectors charges storage
	// and, per query, data processed by vector size: 512 halves both
	// against 1024 for a loss a person will not notice, while 256 gives up
	// three points to save pennies on a corpus of meeting notes.
	DefaultEmbedDimensions = 512
	// MaxEmbedChars is how much text one embedding reads. Titan V2 takes
	// 8,192 tokens or 50,000 characters; 30,000 characters of English is
	// about 7,000 tokens, leaving room for text that tokenises densely
	// (numbers, identifiers). Longer text is cut (see EmbedText).
	MaxEmbedChars = 30_000
)

// Embedder turns text into a Titan Text Embeddings V2 vector with one
// InvokeModel call. It is safe for concurrent use and keeps no state but
// its configuration; callers cache (a query repeated) as they see fit.
type Embedder struct {
	client     *bedrockruntime.Client
	model      string
	dimensions int
	region     string
}

// EmbedderOptions configures NewEmbedder; every field has a default.
type EmbedderOptions struct {
	// ModelID defaults to EmbedModelID.
	ModelID string
	// Dimensions is 256, 512 or 1024 (DefaultEmbedDimensions).
	Dimensions int
	// Region names the region in messages; default the client's.
	Region string
}

// NewEmbedder returns an Embedder calling Bedrock through client (as made
// by NewClient).
func NewEmbedder(client *bedrockruntime.Client, o EmbedderOptions) *Embedder {
	if o.ModelID == "" {
		o.ModelID = EmbedModelID
	}
	if o.Dimensions == 0 {
		o.Dimensions = DefaultEmbedDimensions
	}
	if o.Region == "" {
		o.Region = client.Options().Region
	}
	if o.Region == "" {
		o.Region = DefaultRegion
	}
	return &Embedder{client: client, model: o.ModelID, dimensions: o.Dimensions, region: o.Region}
}

// Dimensions is the length of the vectors Embed returns.
func (e *Embedder) Dimensions() int { return e.dimensions }

type titanRequest struct {
	InputText  string `json:"inputText"`
	Dimensions int    `json:"dimensions"`
	Normalize  bool   `json:"normalize"`
}

type titanResponse struct {
	Embedding           []float32 `json:"embedding"`
	InputTextTokenCount int       `json:"inputTextTokenCount"`
}

// Embed returns the unit-length embedding of text and the input tokens
// Bedrock billed for it. Text longer than MaxEmbedChars is cut there; if
// Bedrock still finds it too long (dense text), it is cut in half once
// more. Errors are classified like the analyzer's: ThrottlingException is
// ETHROTTLED, Bedrock faults and timeouts EUNAVAILABLE, refused access or
// credentials EPERMISSION, a bad model ID or request EINVALID, each with a
// message saying what to do.
func (e *Embedder) Embed(ctx context.Context, text string) ([]float32, int, error) {
	text = cutRunes(strings.TrimSpace(text), MaxEmbedChars)
	if text == "" {
		return nil, 0, recall.Errorf(recall.EINVALID, "nothing to embed: the text is empty")
	}
	vec, tokens, err := e.invoke(ctx, text)
	if err != nil && tooLong(err) {
		vec, tokens, err = e.invoke(ctx, cutRunes(text, utf8.RuneCountInString(text)/2))
	}
	if err != nil {
		return nil, 0, fmt.Errorf("bedrock: embed: %w", e.classify(err))
	}
	if len(vec) != e.dimensions {
		return nil, 0, recall.Errorf(recall.EUNAVAILABLE, "bedrock: embed: %s returned %d dimensions, want %d", e.model, len(vec), e.dimensions)
	}
	return vec, tokens, nil
}

func (e *Embedder) invoke(ctx context.Context, text string) ([]float32, int, error) {
	body, _ := json.Marshal(titanRequest{InputText: text, Dimensions: e.dimensions, Normalize: true})
	out, err := e.client.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{
		ModelId:     aws.String(e.model),
		Body:        body,
		ContentType: aws.String("application/json"),
		Accept:      aws.String("application/json"),
	})
	if err != nil {
		return nil, 0, err
	}
	var r titanResponse
	if err := json.Unmarshal(out.Body, &r); err != nil {
		return nil, 0, recall.Wrap(err, recall.EUNAVAILABLE, "Bedrock answered the embedding request with something that is not a Titan embedding")
	}
	return r.Embedding, r.InputTextTokenCount, nil
}

// tooLong recognises Titan refusing input over its token or character
// limit.
func tooLong(err error) bool {
	return validationSays(err, "too many input tokens", "maxlength")
}

// classify maps an InvokeModel error to Recall's codes, by the same tables
// as the analyzer, with messages about the embedding model.
func (e *Embedder) classify(err error) *recall.Error {
	model, region := e.model, e.region
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return recall.Wrap(err, recall.EUNAVAILABLE, "Bedrock did not answer the embedding request in time")
	}
	var rerr *recall.Error
	if errors.As(err, &rerr) {
		return rerr
	}
	if missingCredentials(err) {
		return recall.Wrap(err, recall.EPERMISSION, MissingCredentialsMessage)
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		code, msg := apiErr.ErrorCode(), apiErr.ErrorMessage()
		switch {
		case throttleCodes[code]:
			return &recall.Error{Code: recall.ETHROTTLED, Message: "Bedrock is throttling embedding requests for " + model + " in " + region, Err: err, RetryAfter: embedRetryAfter}
		case unavailableCodes[code] != "":
			return recall.Wrap(err, recall.EUNAVAILABLE, unavailableCodes[code]+" (embedding with "+model+")")
		case code == "AccessDeniedException":
			return recall.Wrap(err, recall.EPERMISSION, fmt.Sprintf("Bedrock denied access to %s in %s: allow bedrock:InvokeModel on arn:aws:bedrock:%s::foundation-model/%s for this role, and check that the model is offered in the region (aws bedrock get-foundation-model-availability --region %s --model-id %s)", model, region, region, model, region, model))
		case credentialCodes[code]:
			return recall.Wrap(err, recall.EPERMISSION, fmt.Sprintf("AWS rejected the credentials (%s): check AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or refresh the session", code))
		case code == "ResourceNotFoundException":
			return recall.Wrap(err, recall.EINVALID, fmt.Sprintf("embedding model %s was not found in %s: check the model ID (aws bedrock list-foundation-models --by-provider amazon)", model, region))
		case code == "ValidationException":
			return recall.Wrap(err, recall.EINVALID, fmt.Sprintf("Bedrock refused the embedding request for %s: %s", model, msg))
		}
		var respErr *smithyhttp.ResponseError
		if errors.As(err, &respErr) {
			switch s := respErr.HTTPStatusCode(); {
			case s == http.StatusTooManyRequests:
				return &recall.Error{Code: recall.ETHROTTLED, Message: "Bedrock is throttling embedding requests for " + model, Err: err, RetryAfter: embedRetryAfter}
			case s == http.StatusUnauthorized || s == http.StatusForbidden:
				return recall.Wrap(err, recall.EPERMISSION, fmt.Sprintf("Bedrock refused the embedding request (%s): check the credentials and bedrock:InvokeModel on %s", code, model))
			case s >= 400 && s < 500 && s != http.StatusRequestTimeout:
				return recall.Wrap(err, recall.EINVALID, fmt.Sprintf("Bedrock refused the embedding request (%s): %s", code, msg))
			}
		}
		return recall.Wrap(err, recall.EUNAVAILABLE, fmt.Sprintf("Bedrock failed to embed (%s)", code))
	}
	return recall.Wrap(err, recall.EUNAVAILABLE, "could not get an embedding from Bedrock Runtime in "+region)
}

// embedRetryAfter is the least wait before a throttled embedding is tried
// again: Bedrock's per-minute quotas refill within seconds.
const embedRetryAfter = 2 * time.Second

// cutRunes returns s cut to at most n characters.
func cutRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	for k := range s {
		if n == 0 {
			return s[:k]
		}
		n--
	}
	return s
}
