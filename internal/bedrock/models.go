package bedrock

import (
	"regexp"
	"strconv"
	"strings"
)

// DefaultModelID is Claude Haiku 4.5 through the US cross-region inference
// profile. Claude 4.x models are not offered on-demand by their bare model
// ID: Bedrock refuses anthropic.claude-haiku-4-5-… with "on-demand throughput
// isn't supported", so a profile ID (us., eu., apac., jp., au., global.) or
// its ARN is required.
const DefaultModelID = "us.anthropic.claude-haiku-4-5-20251001-v1:0"

// Model IDs the analyzer is known to work with. Claude 3 and 3.5 Haiku can
// still be chosen by setting BEDROCK_MODEL_ID to these (or their us./eu.
// profile IDs where a region offers them only through a profile).
const (
	ModelClaude3Haiku  = "anthropic.claude-3-haiku-20240307-v1:0"
	ModelClaude35Haiku = "anthropic.claude-3-5-haiku-20241022-v1:0"
	ModelClaudeHaiku45 = "anthropic.claude-haiku-4-5-20251001-v1:0"
)

// Price is what a model costs per million tokens, in US dollars, for the
// running cost estimate. It is an estimate: AWS bills from its own meters,
// and some profiles or regions are priced differently.
type Price struct {
	InputPerMTok  float64
	OutputPerMTok float64
}

// DefaultPrices are on-demand list prices of the Haiku models and of the
// embedding model (input only: an embedding has no output tokens), keyed by
// base model ID (profile prefixes and ARNs are stripped before lookup).
// Options.Prices replaces the table when prices change.
var DefaultPrices = map[string]Price{
	ModelClaude3Haiku:  {InputPerMTok: 0.25, OutputPerMTok: 1.25},
	ModelClaude35Haiku: {InputPerMTok: 0.80, OutputPerMTok: 4},
	ModelClaudeHaiku45: {InputPerMTok: 1, OutputPerMTok: 5},
	EmbedModelID:       {InputPerMTok: 0.02},
}

// profilePrefixes are the cross-region inference profile prefixes.
var profilePrefixes = []string{"us.", "eu.", "apac.", "jp.", "au.", "ca.", "us-gov.", "global."}

// BaseModelID reduces a model ID, an inference profile ID or the ARN of
// either to the foundation model ID, so "us.anthropic.claude-haiku-4-5-…",
// "global.anthropic.claude-haiku-4-5-…" and
// "arn:aws:bedrock:…:inference-profile/us.anthropic.claude-haiku-4-5-…" all
// price and behave as "anthropic.claude-haiku-4-5-…".
func BaseModelID(id string) string {
	if strings.HasPrefix(id, "arn:") {
		if i := strings.LastIndex(id, "/"); i >= 0 {
			id = id[i+1:]
		}
	}
	for _, p := range profilePrefixes {
		if rest, ok := strings.CutPrefix(id, p); ok {
			return rest
		}
	}
	return id
}

var versionSuffix = regexp.MustCompile(`-v\d+(:\d+)?$`)

// priceFor finds id's price: by exact ID, by base model ID, then by base ID
// without its "-vN:M" suffix so a new model version keeps its family's price.
func priceFor(prices map[string]Price, id string) (Price, bool) {
	if p, ok := prices[id]; ok {
		return p, true
	}
	base := BaseModelID(id)
	if p, ok := prices[base]; ok {
		return p, true
	}
	stem := versionSuffix.ReplaceAllString(base, "")
	for k, p := range prices {
		if versionSuffix.ReplaceAllString(BaseModelID(k), "") == stem {
			return p, true
		}
	}
	return Price{}, false
}

// claudeVersion matches the Claude 4+ naming (claude-haiku-4-5-…,
// claude-opus-4-1-…, claude-sonnet-4-…) and the Claude 3 naming
// (claude-3-5-haiku-…, claude-3-7-sonnet-…).
var (
	claudeNew = regexp.MustCompile(`^anthropic\.claude-(?:haiku|sonnet|opus)-(\d+)(?:-(\d)(?:-|$))?`)
	claudeOld = regexp.MustCompile(`^anthropic\.claude-(\d)(?:-(\d))?-`)
)

// claudeRelease returns a Claude model's major and minor version, or ok=false
// for a model that is not Claude.
func claudeRelease(id string) (major, minor int, ok bool) {
	base := BaseModelID(id)
	if m := claudeNew.FindStringSubmatch(base); m != nil {
		major, _ = strconv.Atoi(m[1])
		if m[2] != "" {
			minor, _ = strconv.Atoi(m[2])
		}
		return major, minor, true
	}
	if m := claudeOld.FindStringSubmatch(base); m != nil {
		major, _ = strconv.Atoi(m[1])
		if m[2] != "" {
			minor, _ = strconv.Atoi(m[2])
		}
		return major, minor, true
	}
	return 0, 0, false
}

// SupportsStrictTools reports whether Bedrock offers structured outputs
// (strict tool use, which constrains the tool input to its JSON schema) for
// the model: Claude 4.5 and later (Haiku 4.5, Sonnet 4.5, Opus 4.5 and 4.6 at
// the time of writing). Older models get the forced tool without "strict";
// the reply is validated either way.
func SupportsStrictTools(id string) bool {
	major, minor, ok := claudeRelease(id)
	return ok && (major > 4 || (major == 4 && minor >= 5))
}

// outputBurndown is how many quota tokens one output token consumes: Bedrock
// counts output 5× against tokens-per-minute for Claude 3.7 and later.
func outputBurndown(id string) int {
	major, minor, ok := claudeRelease(id)
	if ok && (major >= 4 || (major == 3 && minor >= 7)) {
		return 5
	}
	return 1
}
